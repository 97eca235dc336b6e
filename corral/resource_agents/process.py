"""corral:process — run any command as a supervised daemon, with OCF semantics.

    start    launch `command` detached (own session; stdout/stderr appended to
             `logfile`), record (pid, start time, boot id) in `pidfile`; with
             `check_port`, wait until check_host:check_port accepts TCP.
    stop     SIGTERM to the process group, SIGKILL after `stop_grace`; 0 when
             nothing runs (stop is idempotent).
    monitor  0 if the recorded process is alive and is the same process (start
             time from /proc, so a recycled pid is not mistaken for it), 7 if not;
             with `check_port`, 1 if it runs but the port does not answer.

In-process via NativeRunner, or standalone like any OCF script:
    OCF_RESKEY_command='python3 -m http.server 8080' OCF_RESOURCE_INSTANCE=web \\
        python -m corral.resource_agents.process start
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from corral.resource_agents.base import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
)
from corral.resource_agents.environment import rsctmp_dir
from corral.resource_agents.metadata import ActionInfo, AgentMetadata, ParameterInfo
from corral.resource_agents.native import ActionOutcome, NativeAgent, ocf_main
from corral.resource_agents.procfs import boot_id, group_members, proc_info

POLL_S = 0.05
EXIT_SETTLE_S = 0.3  # how long a refused port may wait for its process to finish exiting
_ENV_NAME_OK = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# Started through a throw-away interpreter so the daemon is orphaned at once
# (re-parented to init), exactly as when this agent runs as a standalone
# script: no zombie is left in, and no child is owned by, the Corral agent.
_LAUNCHER = """
import json, os, subprocess, sys
s = json.load(sys.stdin)
try:
    log = open(s["log"], "ab", buffering=0)
    p = subprocess.Popen(s["argv"], cwd=s["cwd"], env=s["env"], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True, close_fds=True)
except OSError as e:
    sys.stderr.write(f"{e.strerror}: {e.filename or s['argv'][0]}\\n")
    os._exit(4 if isinstance(e, PermissionError) else 5)
sys.stdout.write(str(p.pid))
sys.stdout.flush()
os._exit(0)
"""


class _Fail(Exception):
    def __init__(self, rc: int, reason: str) -> None:
        super().__init__(reason)
        self.rc, self.reason = rc, reason


@dataclass(frozen=True)
class PidRecord:
    pid: int
    starttime: int
    boot_id: str
    argv: list[str]


def read_pidfile(path: str) -> PidRecord | None:
    """None if absent; raises _Fail for a file we cannot trust."""
    try:
        with open(path) as f:
            d = json.load(f)
        return PidRecord(int(d["pid"]), int(d["starttime"]), str(d["boot_id"]), list(d.get("argv", [])))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise _Fail(OCF_ERR_GENERIC, f"pidfile {path} is unreadable ({e}); remove it after checking "
                                     "that the process is gone") from None


def write_pidfile(path: str, rec: PidRecord) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(rec.__dict__, f)
    os.replace(tmp, path)  # atomic: a reader never sees half a record


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _log_tail(path: str, limit: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            lines = f.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class _Config:
    instance: str
    pidfile: str
    logfile: str
    env: Mapping[str, str]

    def param(self, name: str, default: str = "") -> str:
        return self.env.get(f"OCF_RESKEY_{name}", default)

    @classmethod
    def load(cls, env: Mapping[str, str]) -> _Config:
        instance = env.get("OCF_RESOURCE_INSTANCE", "")
        pidfile = env.get("OCF_RESKEY_pidfile", "")
        if not pidfile:
            if not instance:
                raise _Fail(OCF_ERR_CONFIGURED, "neither OCF_RESOURCE_INSTANCE nor the pidfile parameter is set")
            rsctmp = env.get("HA_RSCTMP") or rsctmp_dir()
            pidfile = os.path.join(rsctmp, f"corral-process-{instance.replace('/', '_')}.pid")
        base = pidfile[:-4] if pidfile.endswith(".pid") else pidfile
        return cls(instance, pidfile, env.get("OCF_RESKEY_logfile") or f"{base}.log", env)

    def argv(self) -> list[str]:
        try:
            argv = shlex.split(self.param("command"))
        except ValueError as e:
            raise _Fail(OCF_ERR_CONFIGURED, f"parameter command: {e}") from None
        if not argv:
            raise _Fail(OCF_ERR_CONFIGURED, "parameter command is required")
        return argv

    def extra_env(self) -> dict[str, str]:
        out = {}
        try:
            words = shlex.split(self.param("env"))
        except ValueError as e:
            raise _Fail(OCF_ERR_CONFIGURED, f"parameter env: {e}") from None
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or not key or not set(key) <= _ENV_NAME_OK or key[0].isdigit():
                raise _Fail(OCF_ERR_CONFIGURED, f"parameter env: {word!r} is not NAME=VALUE")
            out[key] = value
        return out

    def port(self) -> int | None:
        text = self.param("check_port").strip()
        if not text:
            return None
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise _Fail(OCF_ERR_CONFIGURED, f"parameter check_port: {text!r} is not a TCP port")
        return int(text)

    def stop_grace(self) -> float | None:
        text = self.param("stop_grace").strip()
        try:
            return float(text) if text else None
        except ValueError:
            raise _Fail(OCF_ERR_CONFIGURED, f"parameter stop_grace: {text!r} is not a number") from None


def _port_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=max(0.01, timeout)):
            return True
    except OSError:
        return False


def _gone_soon(rec: PidRecord, within: float) -> bool:
    """True once the recorded process has exited, polling for at most `within` seconds."""
    until = time.monotonic() + within
    while _is_ours(rec):
        if time.monotonic() >= until:
            return False
        time.sleep(0.01)
    return True


def _is_ours(rec: PidRecord) -> bool:
    info = proc_info(rec.pid)
    return (info is not None and info.alive and info.starttime == rec.starttime
            and rec.boot_id == boot_id())


class ProcessAgent(NativeAgent):
    name = "process"

    def metadata(self) -> AgentMetadata:
        return AgentMetadata(
            name="process", version="1.0", shortdesc="Runs and supervises any command",
            longdesc="Starts a command detached in its own session, tracks it by pid and start time, "
                     "stops its whole process group.",
            parameters=[
                ParameterInfo("command", required=True, unique=False,
                              shortdesc="Command line, split like a shell (no shell features)"),
                ParameterInfo("cwd", default="/", shortdesc="Working directory"),
                ParameterInfo("env", default="", shortdesc="Extra environment: 'K=V K2=V2'"),
                ParameterInfo("pidfile", unique=True, shortdesc="Pid file; default "
                              "$HA_RSCTMP/corral-process-<instance>.pid"),
                ParameterInfo("logfile", shortdesc="stdout/stderr of the command; default next to the pidfile"),
                ParameterInfo("check_port", content_type="integer",
                              shortdesc="TCP port that must accept connections for start and monitor to succeed"),
                ParameterInfo("check_host", default="127.0.0.1", shortdesc="Address for check_port"),
                ParameterInfo("stop_grace", content_type="integer",
                              shortdesc="Seconds between SIGTERM and SIGKILL on stop; default half the stop timeout"),
            ],
            actions=[ActionInfo("start", 20.0), ActionInfo("stop", 20.0),
                     ActionInfo("monitor", 20.0, interval_ms=10000), ActionInfo("status", 20.0),
                     ActionInfo("validate-all", 10.0), ActionInfo("meta-data", 5.0)])

    def execute(self, action: str, env: Mapping[str, str], deadline: float) -> ActionOutcome:
        try:
            cfg = _Config.load(env)
            if action == "start":
                return self._start(cfg, deadline)
            if action == "stop":
                return self._stop(cfg, deadline)
            if action in ("monitor", "status"):
                return self._monitor(cfg, deadline)
            if action == "validate-all":
                self._validate(cfg)
                return ActionOutcome(OCF_SUCCESS)
            return ActionOutcome(OCF_ERR_UNIMPLEMENTED, f"corral:process has no {action!r} action")
        except _Fail as f:
            return ActionOutcome(f.rc, f.reason)

    # --- actions ---

    def _validate(self, cfg: _Config) -> tuple[list[str], str, dict[str, str]]:
        """The argv (with argv[0] resolved), cwd and environment to launch, or _Fail."""
        argv, extra = cfg.argv(), cfg.extra_env()
        cfg.port(), cfg.stop_grace()
        cwd = cfg.param("cwd") or "/"
        if not os.path.isdir(cwd):
            raise _Fail(OCF_ERR_INSTALLED, f"cwd {cwd} is not a directory")
        # The daemon gets our environment without the OCF variables, plus `env`.
        env = {k: v for k, v in cfg.env.items() if not k.startswith(("OCF_", "HA_"))}
        env.update(extra)
        exe = argv[0]
        if "/" in exe:
            path = os.path.join(cwd, exe)
            if not os.path.isfile(path):
                raise _Fail(OCF_ERR_INSTALLED, f"command {exe} not found")
            if not os.access(path, os.X_OK):
                raise _Fail(OCF_ERR_PERM, f"command {exe} is not executable")
        else:
            found = shutil.which(exe, path=env.get("PATH", os.defpath))
            if found is None:
                raise _Fail(OCF_ERR_INSTALLED, f"command {exe!r} not found on PATH")
            argv = [found, *argv[1:]]
        return argv, cwd, env

    def _monitor(self, cfg: _Config, deadline: float) -> ActionOutcome:
        rec = read_pidfile(cfg.pidfile)
        if rec is None:
            return ActionOutcome(OCF_NOT_RUNNING, "not running (no pidfile)")
        if not _is_ours(rec):
            return ActionOutcome(OCF_NOT_RUNNING, f"process {rec.pid} is gone")
        port = cfg.port()
        if port is not None:
            host = cfg.param("check_host") or "127.0.0.1"
            if not _port_open(host, port, min(2.0, deadline - time.monotonic())):
                # A process being killed closes its sockets before it becomes a zombie:
                # give it a moment, so a dead daemon reads as "not running", not "error".
                if _gone_soon(rec, min(EXIT_SETTLE_S, max(0.0, deadline - time.monotonic()))):
                    return ActionOutcome(OCF_NOT_RUNNING, f"process {rec.pid} is gone")
                return ActionOutcome(OCF_ERR_GENERIC, f"process {rec.pid} runs but {host}:{port} refuses connections")
        return ActionOutcome(OCF_SUCCESS)

    def _start(self, cfg: _Config, deadline: float) -> ActionOutcome:
        rec = read_pidfile(cfg.pidfile)
        if rec is not None and _is_ours(rec):
            return ActionOutcome(OCF_SUCCESS)  # already running: start is idempotent
        argv, cwd, env = self._validate(cfg)
        port = cfg.port()
        # Keep a margin so that, run standalone, we answer before the executor kills us.
        margin = min(0.5, max(0.0, deadline - time.monotonic()) * 0.1)
        deadline -= margin
        for path in (cfg.pidfile, cfg.logfile):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        _remove(cfg.pidfile)
        spec = json.dumps({"argv": argv, "cwd": cwd, "log": cfg.logfile, "env": env})
        try:
            launched = subprocess.run([sys.executable, "-I", "-c", _LAUNCHER], input=spec,
                                      capture_output=True, text=True, cwd="/",
                                      timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return ActionOutcome(OCF_ERR_GENERIC, "timed out launching the command")
        if launched.returncode != 0:
            rc = {4: OCF_ERR_PERM, 5: OCF_ERR_INSTALLED}.get(launched.returncode, OCF_ERR_GENERIC)
            return ActionOutcome(rc, f"cannot run {argv[0]}: {launched.stderr.strip()[-300:]}")
        pid = int(launched.stdout)
        info = proc_info(pid)
        if info is None or not info.alive:
            return ActionOutcome(OCF_ERR_GENERIC, f"{argv[0]} exited at once: {_log_tail(cfg.logfile)}")
        rec = PidRecord(pid, info.starttime, boot_id(), argv)
        write_pidfile(cfg.pidfile, rec)
        host = cfg.param("check_host") or "127.0.0.1"
        while True:
            if not _is_ours(rec):
                return ActionOutcome(OCF_ERR_GENERIC,
                                     f"{argv[0]} exited during start: {_log_tail(cfg.logfile)}")
            if port is None or _port_open(host, port, min(0.5, deadline - time.monotonic())):
                return ActionOutcome(OCF_SUCCESS)
            if time.monotonic() >= deadline:
                # Left running with its pidfile: the cluster's stop after a failed start cleans up.
                return ActionOutcome(OCF_ERR_GENERIC, f"{host}:{port} did not accept connections "
                                                      f"before the start timeout")
            time.sleep(POLL_S)

    def _stop(self, cfg: _Config, deadline: float) -> ActionOutcome:
        rec = read_pidfile(cfg.pidfile)
        if rec is None:
            return ActionOutcome(OCF_SUCCESS)
        pgid = rec.pid  # the command leads its own session, so its pgid is its pid
        leader = proc_info(rec.pid)
        if rec.boot_id != boot_id() or (leader is not None and leader.starttime != rec.starttime):
            ours = False  # rebooted, or the pid now belongs to someone else: touch nothing
        else:
            # Leader alive, a zombie, or gone: a group id is never reused while the
            # group has members, so any live member is our command or its child.
            ours = bool(group_members(pgid, session=pgid))
        if ours:
            try:
                grace = cfg.stop_grace()
            except _Fail:
                grace = None  # a stop must not fail over a typo: fall back to the default
            if grace is None or grace < 0:
                grace = max(0.0, deadline - time.monotonic()) / 2
            if not self._signal_until_gone(pgid, signal.SIGTERM, time.monotonic() + grace):
                if not self._signal_until_gone(pgid, signal.SIGKILL, deadline - 0.1):
                    return ActionOutcome(OCF_ERR_GENERIC, f"process group {pgid} survived SIGKILL")
        _remove(cfg.pidfile)
        return ActionOutcome(OCF_SUCCESS)

    @staticmethod
    def _signal_until_gone(pgid: int, sig: signal.Signals, until: float) -> bool:
        """Send sig to the process group; wait until none of its members is alive."""
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        while group_members(pgid, session=pgid):
            if time.monotonic() >= until:
                return False
            time.sleep(POLL_S)
        return True

if __name__ == "__main__":
    sys.exit(ocf_main(ProcessAgent()))
