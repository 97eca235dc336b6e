"""The compute host's light member (corral.agent.compute_member) on the in-memory store."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from click.testing import CliRunner

from corral.agent.compute_leases import StoreLeaseClient, lease_client_for
from corral.agent.compute_member import ComputeMember, member_key, parse_role
from corral.cli.live import agent
from corral.cluster import keys
from corral.cluster.snapshot import read_snapshot
from corral.cluster.timing import Timing
from corral.store import StoreUnavailable
from corral.store.memory import MemoryStore

FAST = Timing(ttl=0.6, renew=0.1, store_timeout=0.2)  # 0.1 + 2 x 0.2 < 0.6


async def until(check, limit: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 20))


def test_member_key_is_bound_to_its_lease_and_nothing_else_is_written() -> None:
    store = MemoryStore()

    async def main() -> None:
        member = ComputeMember("cmp1", StoreLeaseClient(store), FAST)
        task = asyncio.create_task(member.run())
        await until(lambda: member.state == "member")
        await until(lambda: member.renewals >= 3)
        kv = store.get(member_key("cmp1"))
        assert kv is not None and kv.lease == member.lease
        value = json.loads(kv.value)
        assert value["host"] == "cmp1" and value["ttl"] == FAST.ttl and value["since"] == member.since
        # No control-plane membership, no candidacy: the compute prefix is all it writes.
        written = [k.key for k in store.get_prefix("")[0]]
        assert written == [f"{keys.COMPUTE_MEMBERS}cmp1"]
        snap = read_snapshot(store)
        assert snap.members == {} and snap.leader is None and snap.nodes == {}
        member.stop()
        await task

    run(main())


def test_lease_lost_key_gone_member_stops_claiming_and_registers_again() -> None:
    store = MemoryStore()
    lost: list[str] = []

    async def main() -> None:
        member = ComputeMember("cmp1", StoreLeaseClient(store), FAST, on_lost=lost.append)
        task = asyncio.create_task(member.run())
        await until(lambda: member.state == "member")
        first_lease, first_since = member.lease, member.since
        assert first_lease is not None
        store.lease_revoke(first_lease)  # the store drops the lease (as etcd does when it expires)
        assert store.get(member_key("cmp1")) is None
        await until(lambda: bool(lost))
        assert "expired" in lost[0]
        await until(lambda: member.state == "member" and member.lease != first_lease)
        kv = store.get(member_key("cmp1"))
        assert kv is not None and kv.lease == member.lease
        assert json.loads(kv.value)["since"] > first_since  # a new incarnation the controller can tell
        member.stop()
        await task

    run(main())


def test_crashed_member_key_vanishes_with_its_lease() -> None:
    store = MemoryStore()

    async def main() -> None:
        member = ComputeMember("cmp1", StoreLeaseClient(store), FAST)
        task = asyncio.create_task(member.run())
        await until(lambda: member.state == "member")
        member.crash()
        await task
        assert store.get(member_key("cmp1")) is not None  # nothing revoked: the store must expire it
        stopped = time.monotonic()
        await until(lambda: store.get(member_key("cmp1")) is None)
        assert time.monotonic() - stopped <= FAST.ttl + 0.3

    run(main())


class Unreachable(StoreLeaseClient):
    """Renewals fail as if the store were cut off."""

    cut = False

    async def keepalive(self, lease: int) -> int:
        if self.cut:
            await asyncio.sleep(self.timeout * 2)
            raise StoreUnavailable("cut off")
        return await super().keepalive(lease)


def test_cut_off_member_stops_claiming_within_its_limit_and_keeps_trying() -> None:
    store = MemoryStore()
    lost: list[tuple[float, str]] = []

    async def main() -> None:
        leases = Unreachable(store)
        leases.timeout = FAST.store_timeout
        member = ComputeMember("cmp1", leases, FAST, on_lost=lambda why: lost.append((time.monotonic(), why)))
        task = asyncio.create_task(member.run())
        await until(lambda: member.renewals >= 1)
        leases.cut = True
        cut_at = time.monotonic()
        await until(lambda: bool(lost))
        # It gave up claiming before the lease could have expired at the store.
        assert lost[0][0] - cut_at < FAST.ttl
        assert "no lease renewal" in lost[0][1] or "expired" in lost[0][1]
        leases.cut = False
        await until(lambda: member.state == "member" and member.lost_count == 1)
        member.stop()
        await task

    run(main())


def test_clean_stop_marks_leaving_then_revokes() -> None:
    store = MemoryStore()
    seen: list[tuple[str, str | None]] = []

    async def main() -> None:
        member = ComputeMember("cmp1", StoreLeaseClient(store), FAST)
        task = asyncio.create_task(member.run())
        await until(lambda: member.state == "member")
        watch = store.watch_prefix(keys.COMPUTE_MEMBERS, timeout=1.0)
        member.stop()
        await task
        for ev in watch:
            seen.append((ev.kind, ev.value))
            if ev.kind == "delete":
                break
        assert member.state == "left" and store.get(member_key("cmp1")) is None

    run(main())
    assert [k for k, _ in seen] == ["put", "delete"]
    assert json.loads(seen[0][1] or "{}")["leaving"] is True


def test_roles() -> None:
    assert parse_role("compute") == "compute" and parse_role(" Cluster ") == "cluster"
    with pytest.raises(ValueError, match="unknown role 'storage'"):
        parse_role("storage")


def test_cli_unknown_role_is_an_error_naming_it() -> None:
    result = CliRunner().invoke(agent, ["--node", "c1", "--store", "memory://", "--role", "storage"])
    assert result.exit_code == 2
    assert "unknown role 'storage'" in result.output and "compute" in result.output


def test_cli_compute_refuses_what_it_does_not_do() -> None:
    result = CliRunner().invoke(agent, ["--node", "c1", "--store", "memory://", "--role", "compute",
                                        "--watchdog", "timer"])
    assert result.exit_code == 2 and "--watchdog" in result.output and "not used by a compute member" \
        in result.output
    result = CliRunner().invoke(agent, ["--node", "c1", "--store", "memory://", "--keepalive", "stream"])
    assert result.exit_code == 2 and "--keepalive goes with --role compute" in result.output


def test_stream_keepalive_needs_etcd_and_unknown_keepalive_is_named() -> None:
    with pytest.raises(ValueError, match="needs an etcd:// store"):
        lease_client_for("memory://", "stream")
    with pytest.raises(ValueError, match="unknown keepalive 'udp'"):
        lease_client_for("memory://", "udp")
    with pytest.raises(ValueError, match="port"):
        lease_client_for("etcd://host:99999", "stream")


def test_lease_timing_rule_applies() -> None:
    with pytest.raises(ValueError):
        ComputeMember("c1", StoreLeaseClient(MemoryStore()), Timing(ttl=1.0, renew=0.5, store_timeout=0.5))
