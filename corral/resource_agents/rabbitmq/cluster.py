"""What the cluster manager knows about the RabbitMQ cluster, through Pacemaker's node tools.

Each node that has been a member of the RabbitMQ cluster records its RabbitMQ node name in a
permanent node attribute (`crm_attribute -l forever`), `rmq-corral-<resource>`. Those attributes
say which nodes hold (or held) the cluster's data, and whom a node without data can join. They
outlive restarts and full outages on purpose: a node that has lost its data must find them after
every node has gone down, and must never take their absence for a new cluster.
"""
from __future__ import annotations

import shutil
import subprocess


class ClusterUnknown(Exception):
    """The cluster manager's tools could not be asked."""


def _tool(*argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(argv[0])
    if exe is None:
        raise ClusterUnknown(f"{argv[0]} is not on PATH (no cluster manager?)")
    try:
        return subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ClusterUnknown(f"{' '.join(argv)}: {e}") from None


class ClusterView:
    def __init__(self, resource: str) -> None:
        self.attr = f"rmq-corral-{resource}"

    def local_node(self) -> str:
        r = _tool("crm_node", "-n")
        if r.returncode != 0 or not r.stdout.strip():
            raise ClusterUnknown(f"crm_node -n: {r.stderr.strip() or r.returncode}")
        return r.stdout.strip()

    def nodes(self) -> list[str]:
        r = _tool("crm_node", "-l")
        if r.returncode != 0:
            raise ClusterUnknown(f"crm_node -l: {r.stderr.strip() or r.returncode}")
        return sorted(line.split()[1] for line in r.stdout.splitlines() if len(line.split()) >= 2)

    def members(self) -> list[str]:
        r = _tool("crm_node", "-p")
        if r.returncode != 0:
            raise ClusterUnknown(f"crm_node -p: {r.stderr.strip() or r.returncode}")
        return sorted(r.stdout.split())

    def data_holders(self) -> dict[str, str]:
        """cluster node -> RabbitMQ node name, for every node that has been a RabbitMQ member."""
        out: dict[str, str] = {}
        for node in self.nodes():
            r = _tool("crm_attribute", "-N", node, "-l", "forever", "-n", self.attr, "-G", "-q")
            if r.returncode == 0 and r.stdout.strip():
                out[node] = r.stdout.strip()
            elif r.returncode not in (0, 105):  # 105: no such attribute
                raise ClusterUnknown(f"crm_attribute -N {node} -G {self.attr}: {r.stderr.strip()}")
        return out

    def record_member(self, nodename: str) -> None:
        r = _tool("crm_attribute", "-l", "forever", "-n", self.attr, "-v", nodename)
        if r.returncode != 0:
            raise ClusterUnknown(f"crm_attribute -v {self.attr}: {r.stderr.strip() or r.returncode}")
