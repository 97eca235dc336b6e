"""The node's watchdog: when the agent stops proving its lease valid -- cut off, hung,
crashed or frozen -- what it runs dies before that lease can expire at the store.

Membership's lease watchdog (membership.py) covers an agent that is cut off but
still runs: it stops everything itself. This covers the agent that cannot:

  device  a Linux watchdog device (/dev/watchdog, softdog, or --watchdog PATH): the
          kernel resets the node unless the agent writes to it in time; a clean exit
          closes it with the magic 'V' so the node is not reset.
  timer   (the default without a usable device) a small separate process fed over a
          pipe; not fed in time, it SIGKILLs every process the agent started and runs
          the self-fence command.
  none    nothing; an emergency stop that overruns is still escalated (daemon.py).

Why a process, not a thread, for the timer: a thread stops with the threads it should
watch -- a SIGSTOP of the agent, a wedged interpreter, a crash. A child process keeps
running (SIGSTOP of the agent's pid does not stop it) and sees the agent's death as
EOF on its pipe (no magic close: it fires, as a device would). It stays in the agent's
process group on purpose: a signal to the whole group (systemd stopping the unit, an
operator's `kill -- -PGID`, the test clusters' crash) means "stop all of it"; only a
failure of the agent process alone leaves it to fire. It is a fresh interpreter, not a
fork: forking a threaded process can inherit held locks.

Feeding rule (why the node dies before its lease can expire elsewhere): the agent feeds
only while its last good renewal was sent less than renew + 2 x store timeout ago
(Membership's own limit), so the last feed is before that, and the watchdog fires at
most `timeout` later. Checked at startup:

    renew + 2 x store timeout + watchdog timeout + margin <= TTL

margin (0.1 s, less for very tight timings) is kept for the kill itself. The timer also
receives each feed's deadline, so a feed delayed between check and write cannot extend it.

What "every process the agent started" means: the agent puts TAG_ENV=<node:hash> into
its environment; resource agents and the services they start inherit it. Firing kills
each tagged process's whole process group (each agent operation leads its own, see
resource_agents/execute.py), so group members that dropped the variable go too. Out of
reach: services started by systemd, and daemons that clear their environment *and*
leave the tagged group -- the self-fence command (or a real device) covers those.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import logging
import math
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from corral.cluster.timing import Timing
from corral.resource_agents.execute import execute
from corral.resource_agents.procfs import all_processes, proc_info

log = logging.getLogger("corral.watchdog")

TAG_ENV = "CORRAL_WATCHDOG_TAG"
DEFAULT_DEVICE = "/dev/watchdog"
MARGIN_S = 0.1          # kept between the watchdog firing and the lease's earliest expiry
MIN_TIMEOUT_S = 0.05    # below this a Python feeder cannot keep up
PET_INTERVAL_MAX_S = 0.1
REKILL_S = 0.5          # a fired, unfed timer keeps killing what the agent may still start
SELF_FENCE_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 30.0
WDIOC_SETTIMEOUT = 0xC0045706  # _IOWR('W', 6, int), linux/watchdog.h

# Limit: the latest time the watchdog may fire if not fed again, or why it must not be fed.
Limit = Callable[[], "float | str"]


def node_tag(node: str, store_url: str) -> str:
    """The environment tag of one node's processes: stable across agent restarts (a new
    agent also covers services its predecessor started), distinct per cluster and per
    network namespace (labs of namespace "hosts" reuse node names and store addresses,
    and one lab's watchdog must never kill another's services)."""
    try:
        netns = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        netns = 0
    digest = hashlib.sha1(f"{node}\0{store_url.split('?')[0]}\0{netns}".encode()).hexdigest()[:12]
    return f"{node}:{digest}"


def margin(timing: Timing) -> float:
    return min(MARGIN_S, timing.stop_budget / 4)


def max_timeout(timing: Timing) -> float:
    """The longest watchdog timeout the lease timing allows."""
    return timing.stop_budget - margin(timing)


def check_timeout(timing: Timing, timeout: float) -> None:
    """ValueError unless renew + 2 x store timeout + timeout + margin <= TTL."""
    m = margin(timing)
    total = timing.self_fence_after + timeout + m
    if total > timing.ttl + 1e-9:
        raise ValueError(
            f"watchdog timeout {timeout:g}s is too long for the lease timing: renew + 2 x store timeout + "
            f"watchdog timeout + margin must not exceed the TTL ({timing.renew:g} + 2 x {timing.store_timeout:g}"
            f" + {timeout:g} + {m:g} = {total:g} > {timing.ttl:g}), or this node could outlive its lease; "
            f"use --watchdog-timeout {max(0.0, max_timeout(timing)):.3g} or less, or --ttl "
            f"{timing.self_fence_after + timeout + MARGIN_S:.3g} or more")
    if timeout < MIN_TIMEOUT_S:
        raise ValueError(f"watchdog timeout {timeout:g}s is below {MIN_TIMEOUT_S:g}s: the lease timing leaves "
                         f"no room for a watchdog (raise --ttl, or use --watchdog none)")


@dataclass(frozen=True)
class WatchdogConfig:
    mode: str                   # "device", "timer" or "none"
    timeout: float
    path: str | None = None     # device mode
    command: str | None = None  # the self-fence command
    max_timeout: float = math.inf
    fallback: WatchdogConfig | None = None  # `auto`: the timer, if the device cannot be opened
    note: str = ""              # why `auto` chose what it chose


def _is_char(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _device_config(path: str, timing: Timing, timeout: float | None, command: str | None) -> WatchdogConfig:
    if not os.path.exists(path):
        raise ValueError(f"watchdog device {path} does not exist")
    limit = max_timeout(timing)
    if _is_char(path):  # a kernel watchdog counts whole seconds
        secs = math.ceil(timeout) if timeout is not None else math.floor(limit)
        if secs < 1:
            raise ValueError(f"a watchdog device needs a timeout of at least 1 s, and the lease timing leaves "
                             f"{max(0.0, limit):.3g}s (TTL - renew - 2 x store timeout - margin): use "
                             f"--ttl {timing.self_fence_after + 1 + MARGIN_S:.3g} or more")
        timeout = float(secs)
    elif timeout is None:  # a FIFO or plain file (tests): no kernel behind it
        timeout = limit
    check_timeout(timing, timeout)
    return WatchdogConfig("device", timeout, path, command, limit)


def resolve(choice: str, timing: Timing, timeout: float | None = None,
            command: str | None = None) -> WatchdogConfig:
    """`--watchdog auto|none|timer|PATH` -> what to run (ValueError with the reason if unsafe)."""
    if timeout is not None and timeout <= 0:
        raise ValueError(f"watchdog timeout must be positive, got {timeout:g}")
    command = command or None
    if choice == "none":
        return WatchdogConfig("none", math.inf, command=command)
    timer_timeout = timeout if timeout is not None else max_timeout(timing)
    if choice not in ("auto", "timer"):
        return _device_config(choice, timing, timeout, command)
    check_timeout(timing, timer_timeout)
    timer = WatchdogConfig("timer", timer_timeout, command=command, max_timeout=max_timeout(timing))
    if choice == "timer":
        return timer
    if not _is_char(DEFAULT_DEVICE):
        return replace(timer, note=f"no {DEFAULT_DEVICE}")
    try:
        device = _device_config(DEFAULT_DEVICE, timing, timeout, command)
    except ValueError as exc:
        return replace(timer, note=f"{DEFAULT_DEVICE} not used: {exc}")
    return replace(device, fallback=timer)


# --- the hard action -----------------------------------------------------------------------------
def _tagged(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in b"\0" + f.read()
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def boot_ticks() -> int:
    """Now, in the unit of /proc/PID/stat's start time (clock ticks since boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def kill_tagged(tag: str, spare: Collection[int], born_by: int | None = None) -> list[str]:
    """SIGKILL every live process carrying TAG_ENV=tag and its process group; `spare` (pids)
    and their process groups are never signalled as a group; born_by (boot_ticks()): only
    processes started by then. Returns what was killed."""
    needle = f"\0{TAG_ENV}={tag}\0".encode()
    spared_groups = {info.pgrp for pid in spare if (info := proc_info(pid)) is not None}
    killed: list[str] = []
    for _ in range(3):  # a group forking while we kill: look again
        targets = [p for p in all_processes() if p.alive and p.pid not in spare
                   and (born_by is None or p.starttime <= born_by) and _tagged(p.pid, needle)]
        if not targets:
            break
        for p in targets:
            group = p.pgrp not in spared_groups and p.pgrp > 1
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if group:
                    os.killpg(p.pgrp, signal.SIGKILL)
                else:
                    os.kill(p.pid, signal.SIGKILL)
            killed.append(f"{'group' if group else 'pid'} {p.pgrp if group else p.pid} ({_comm(p.pid)})")
        time.sleep(0.02)
    return sorted(set(killed))


def run_self_fence(command: str, node: str, reason: str, timeout: float = SELF_FENCE_TIMEOUT_S) -> str:
    """Run the self-fence command (sh -c), without the tag (a later kill must not hit it)."""
    env = {k: v for k, v in os.environ.items() if k != TAG_ENV}
    env.update(CORRAL_NODE=node, CORRAL_SELF_FENCE_REASON=reason)
    done = execute(["/bin/sh", "-c", command], env, timeout)
    output = (done.stdout + done.stderr).strip()[-300:]
    if done.exec_error is not None:
        return f"could not run it: {done.exec_error}"
    if done.timed_out:
        return f"timed out after {timeout:g}s and was killed"
    return f"exited with status {done.status}" + (f": {output}" if output else "")


def hard_action(tag: str, node: str, command: str | None, reason: str, spare: Collection[int],
                born_by: int | None = None) -> None:
    """Kill every process the agent started, then run the self-fence command; log both."""
    killed = kill_tagged(tag, spare, born_by)
    log.error("%s: watchdog fired (%s): killed %s", node, reason, ", ".join(killed) or "nothing (none left)")
    if command:
        log.error("%s: self-fence command %r %s", node, command, run_self_fence(command, node, reason))


# --- the agent's side --------------------------------------------------------------------------
class _Device:
    def __init__(self, path: str, timeout: float, max_timeout: float) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)  # from here on the kernel counts
        try:
            if stat.S_ISCHR(os.fstat(self.fd).st_mode):
                try:
                    got = fcntl.ioctl(self.fd, WDIOC_SETTIMEOUT, struct.pack("i", int(timeout)))
                except OSError as exc:
                    raise ValueError(f"{path} is not a watchdog device that takes a timeout: {exc}") from exc
                actual = struct.unpack("i", got)[0]
                if actual > max_timeout:
                    raise ValueError(f"{path} chose a timeout of {actual}s for the {timeout:g}s asked, longer than "
                                     f"the lease timing allows ({max_timeout:.3g}s)")
                self.timeout = float(actual)
            else:
                self.timeout = timeout
            os.set_blocking(self.fd, False)
        except BaseException:
            self.close()
            raise

    def pet(self, _deadline: float) -> None:
        os.write(self.fd, b"\0")

    def fire(self, _reason: str) -> bool:
        return False  # no more keepalives is the device's firing; the agent kills what it can

    def close(self) -> None:
        try:
            os.write(self.fd, b"V")  # the magic close: the driver disarms (unless nowayout)
        except OSError as exc:
            log.error("watchdog: magic close failed: %s", exc)
        os.close(self.fd)


class _Timer:
    def __init__(self, timeout: float, node: str, tag: str, command: str | None) -> None:
        self.timeout, self.node, self.tag, self.command = timeout, node, tag, command
        self.proc: subprocess.Popen[bytes] | None = None
        self.w = -1
        self._spawn()

    def _spawn(self) -> None:
        r, w = os.pipe()  # not inheritable: only this process holds w, so our death is EOF there
        argv = [sys.executable, "-m", "corral.agent.watchdog", "--fd", str(r), "--timeout", repr(self.timeout),
                "--node", self.node, "--tag", self.tag, "--agent-pid", str(os.getpid())]
        if self.command:
            argv += ["--command", self.command]
        env = {k: v for k, v in os.environ.items() if k != TAG_ENV}
        try:
            self.proc = subprocess.Popen(argv, pass_fds=(r,), env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE)
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
        os.set_blocking(w, False)  # a stopped watchdog must never block the feeder
        self.w = w
        # Feeds carry deadlines: wait until it reads them, or its start-up (an interpreter,
        # slower than a short timeout on a loaded host) would make it fire at once.
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else b""
        self.proc.stdout.close()
        if line.strip() != b"ready":
            self.close()
            raise OSError(f"the watchdog process did not start (status {self.proc.poll()})")

    def _send(self, line: str) -> None:
        if self.w < 0:
            raise OSError("no watchdog process")
        os.write(self.w, line.encode() + b"\n")

    def pet(self, deadline: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            log.error("%s: the watchdog process is gone (status %s): starting a new one", self.node,
                      self.proc.returncode if self.proc else None)
            self._close_pipe()
            self._spawn()
        self._send(f"p {deadline:.6f}")

    def fire(self, reason: str) -> bool:
        try:
            self._send("F " + " ".join(reason.split()))
            return True
        except OSError as exc:
            log.error("%s: watchdog process unreachable (%s): acting here", self.node, exc)
            return False

    def _close_pipe(self) -> None:
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def close(self) -> None:
        try:
            self._send("V")
        except OSError as exc:
            log.error("%s: watchdog: magic close failed: %s", self.node, exc)
        self._close_pipe()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Watchdog:
    """Feeds the device or the timer process from its own thread while limit() allows it."""

    def __init__(self, cfg: WatchdogConfig, node: str, tag: str, limit: Limit) -> None:
        self.cfg, self.node, self.tag, self.limit = cfg, node, tag, limit
        self.timeout = cfg.timeout
        self.expires_at = math.inf  # when it fires unless fed again
        self._backend: _Device | _Timer | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._dead = False          # device fired: never fed again, the kernel resets the node
        self._starving: str | None = None

    @property
    def mode(self) -> str:
        return self.cfg.mode

    def start(self) -> None:
        cfg = self.cfg
        if cfg.mode == "device" and cfg.path:
            try:
                self._backend = _Device(cfg.path, cfg.timeout, cfg.max_timeout)
                self.timeout = self._backend.timeout
            except (OSError, ValueError) as exc:
                if cfg.fallback is None:
                    raise ValueError(f"watchdog device {cfg.path}: {exc}") from exc
                log.warning("%s: watchdog device %s unusable (%s): using the timer process", self.node, cfg.path, exc)
                self.cfg = cfg = cfg.fallback
                self.timeout = cfg.timeout
        if cfg.mode == "timer":
            self._backend = _Timer(cfg.timeout, self.node, self.tag, cfg.command)
        if self._backend is not None:
            self.expires_at = time.monotonic() + self.timeout
            threading.Thread(target=self._feed_loop, name="watchdog-feed", daemon=True).start()
        log.info("%s: watchdog: %s%s", self.node, self.describe(), f" ({cfg.note})" if cfg.note else "")

    def describe(self) -> str:
        cmd = f", then run {self.cfg.command!r}" if self.cfg.command else ""
        if self.cfg.mode == "device":
            return f"device {self.cfg.path}, timeout {self.timeout:g}s (the kernel resets this node)"
        if self.cfg.mode == "timer":
            return f"timer process, timeout {self.timeout:g}s (kills this agent's processes{cmd})"
        return f"none (an overrunning emergency stop still kills this agent's processes{cmd})"

    def _feed_loop(self) -> None:
        interval = min(PET_INTERVAL_MAX_S, self.timeout / 4)
        while not self._closed.wait(interval):
            self.pet()

    def pet(self) -> bool:
        """Feed it if limit() allows; True if fed."""
        with self._lock:
            if self._backend is None or self._dead or self._closed.is_set():
                return False
            limit = self.limit()
            deadline = time.monotonic() + self.timeout
            if isinstance(limit, str) or deadline > limit:
                why = limit if isinstance(limit, str) else "the lease may expire before the watchdog would fire"
                if self._starving is None:
                    log.warning("%s: watchdog not fed: %s; it fires in %.2fs unless that changes", self.node, why,
                                self.expires_at - time.monotonic())
                self._starving = why
                return False
            try:
                self._backend.pet(deadline)
            except OSError as exc:
                log.error("%s: feeding the watchdog failed: %s", self.node, exc)
                return False
            if self._starving is not None:
                log.info("%s: watchdog fed again", self.node)
                self._starving = None
            self.expires_at = deadline
            return True

    def fire(self, reason: str) -> None:
        """The hard action now: kill every process the agent started and run the self-fence
        command; with a device, also never feed it again (the kernel resets the node)."""
        with self._lock:
            backend = self._backend
            if self.cfg.mode == "device":
                self._dead = True
        if isinstance(backend, _Timer) and backend.fire(reason):
            return
        if self.cfg.mode == "device":
            log.error("%s: watchdog %s is not fed any more: the kernel resets this node within %.1fs", self.node,
                      self.cfg.path, max(0.0, self.expires_at - time.monotonic()))
        hard_action(self.tag, self.node, self.cfg.command, reason, spare=[os.getpid()])

    def close(self) -> None:
        """Clean shutdown: the magic close, so the node is neither reset nor fenced."""
        with self._lock:
            self._closed.set()
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()


# --- the timer process ----------------------------------------------------------------------------
class _TimerLoop:
    def __init__(self, fd: int, timeout: float, node: str, tag: str, agent_pid: int, command: str | None) -> None:
        self.fd, self.timeout, self.node, self.tag = fd, timeout, node, tag
        self.agent_pid, self.command = agent_pid, command
        self.fired = False
        # When the agent died: a successor agent (same tag, so it also covers what its
        # predecessor started) may already run new operations; only older processes are ours.
        self.orphaned_at: int | None = None

    def _fire(self, reason: str) -> None:
        self.fired = True
        hard_action(self.tag, self.node, self.command, reason, spare=[os.getpid(), self.agent_pid],
                    born_by=self.orphaned_at)

    def run(self) -> int:
        deadline = time.monotonic() + self.timeout
        magic = eof = False
        buf = b""
        next_kill = math.inf
        while True:
            now = time.monotonic()
            if not self.fired and now >= deadline:
                self._fire("the agent exited without closing its watchdog" if eof
                           else f"not fed for {self.timeout:g}s: the agent is hung, stopped or cut off")
                if eof:
                    return 1
                next_kill = time.monotonic() + REKILL_S
                continue
            if self.fired and now >= next_kill:
                if killed := kill_tagged(self.tag, [os.getpid(), self.agent_pid]):
                    log.error("%s: watchdog still not fed: killed %s", self.node, ", ".join(killed))
                next_kill = now + REKILL_S
            if eof:
                time.sleep(max(0.0, deadline - now))
                continue
            readable, _, _ = select.select([self.fd], [], [], max(0.0, (next_kill if self.fired else deadline) - now))
            if not readable:
                continue
            data = os.read(self.fd, 4096)
            if not data:
                if magic:
                    log.info("%s: watchdog closed cleanly", self.node)
                    return 0
                if self.fired:
                    return 1
                eof, self.orphaned_at = True, boot_ticks()
                log.error("%s: the agent is gone without closing its watchdog: firing in %.2fs", self.node,
                          max(0.0, deadline - now))
                continue
            buf += data
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                kind, _, rest = line.decode(errors="replace").partition(" ")
                if kind == "p":  # fed, with the deadline the agent checked against its lease
                    deadline = min(float(rest), time.monotonic() + self.timeout)
                    magic = False
                    if self.fired:
                        log.warning("%s: watchdog fed again: re-armed", self.node)
                        self.fired, next_kill = False, math.inf
                elif kind == "V":
                    magic = True
                elif kind == "F":
                    if self.fired:
                        log.error("%s: watchdog asked to fire (%s): already fired", self.node, rest)
                    else:
                        self._fire(rest or "asked by the agent")
                        next_kill = time.monotonic() + REKILL_S


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m corral.agent.watchdog",
                                description="the timer watchdog process of one corral agent (started by it)")
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--agent-pid", type=int, required=True)
    p.add_argument("--command")
    args = p.parse_args(argv)
    # The agent's SIGTERM / Ctrl-C start a clean leave that ends with the magic close;
    # dying of them first would leave the node unwatched for that leave.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {args.node} corral.watchdog[%(process)d] %(levelname)s: %(message)s")
    loop = _TimerLoop(args.fd, args.timeout, args.node, args.tag, args.agent_pid, args.command)
    sys.stdout.write("ready\n")
    sys.stdout.close()
    return loop.run()


if __name__ == "__main__":
    sys.exit(main())
