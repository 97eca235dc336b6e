"""Hypothesis strategies for small, random but valid Pacemaker CIBs with a status section.

A generated scenario is a :class:`Scenario` (plain data, easy to read in a
failure report); :meth:`Scenario.to_xml` renders the CIB that both
``crm_simulate`` and ``corral simulate`` are given.

Feature level 1 (:func:`scenarios`):
  * 2-4 nodes; at least one online, the others online or cleanly offline
    (``in_ccm="false" crmd="offline" join="down" expected="down"``)
  * stonith-enabled=false, no-quorum-policy=ignore
  * 1-6 ocf:heartbeat:Dummy primitives, optional rsc_defaults resource-stickiness
  * location constraints (finite scores and +/-INFINITY)
  * colocations between primitives (finite and +/-INFINITY), never a cycle:
    a resource is only ever colocated with one defined before it
  * orders (Mandatory or Optional), never a cycle: first is always defined before then
  * current state: each resource either stopped (a probe with rc=7 recorded on
    every online node) or running on one online node (start rc=0 and a recurring
    monitor there, probes rc=7 everywhere else)

Feature level 2 (:func:`scenarios_level2`) adds groups (1-3 members, running as a
prefix of their members on one node, or stopped) and anonymous clones (optional
clone-max, instances running on any subset of the online nodes); constraints
then refer to the top-level resources (primitives, groups, clones).

The operation history copies the transition-key / transition-magic formats
and the Dummy agent's op-digest values of the conformance corpus
(../shared/conformance/pacemaker-2.1.5/xml/1-a-then-bm-move-b.xml), so that
Pacemaker sees no definition change and schedules no restarts of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

# Copied from the corpus (1-a-then-bm-move-b.xml): Dummy without parameters.
UUID = "871e5928-80bf-4347-bf71-d1e1d3ef476b"
FEATURE_SET = "3.0.7"
DIGEST = "f2317cad3d54cec5d7d7aa7d0bf35cf8"  # start / probe of a parameterless Dummy
MONITOR_DIGEST = "4811cef7f7f94e3a35a70be7916cb2fd"  # its 60 s monitor
MONITOR_INTERVAL_MS = 60000

INF = "INFINITY"
NINF = "-INFINITY"


@dataclass(frozen=True)
class Node:
    id: str
    uname: str
    online: bool


@dataclass(frozen=True)
class Location:
    id: str
    rsc: str
    node: str
    score: str


@dataclass(frozen=True)
class Colocation:
    id: str
    rsc: str
    with_rsc: str
    score: str


@dataclass(frozen=True)
class Order:
    id: str
    first: str
    then: str
    kind: str  # Mandatory | Optional


@dataclass
class Primitive:
    id: str
    running_on: str | None = None  # node uname


@dataclass
class Group:
    id: str
    members: list[str]
    node: str | None = None  # where the running members run
    running: int = 0  # how many members, from the first, run there


@dataclass
class Clone:
    id: str  # the clone's id, e.g. "cln1-clone"
    prim: str  # the cloned primitive's id, e.g. "cln1"
    clone_max: int | None = None
    running_on: list[str] = field(default_factory=list)  # node unames


Resource = Primitive | Group | Clone


@dataclass
class Scenario:
    nodes: list[Node]
    resources: list[Resource]
    locations: list[Location] = field(default_factory=list)
    colocations: list[Colocation] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    stickiness: str | None = None

    # ----------------------------------------------------------------- rendering
    def describe(self) -> str:
        """A short human-readable account of the scenario, for failure reports."""
        out = [
            "nodes: " + ", ".join(f"{n.uname} ({'online' if n.online else 'offline'})" for n in self.nodes)
        ]
        if self.stickiness is not None:
            out.append(f"rsc_defaults resource-stickiness={self.stickiness}")
        for r in self.resources:
            if isinstance(r, Primitive):
                out.append(
                    f"primitive {r.id}: " + (f"running on {r.running_on}" if r.running_on else "stopped")
                )
            elif isinstance(r, Group):
                state = f"first {r.running} running on {r.node}" if r.node else "stopped"
                out.append(f"group {r.id} [{' '.join(r.members)}]: {state}")
            else:
                cmax = f" clone-max={r.clone_max}" if r.clone_max is not None else ""
                where = ", ".join(r.running_on) if r.running_on else "nowhere"
                out.append(f"clone {r.id} [{r.prim}]{cmax}: running on {where}")
        out += [f"location {c.id}: {c.rsc} prefers {c.node} {c.score}" for c in self.locations]
        out += [f"colocation {c.id}: {c.rsc} with {c.with_rsc} {c.score}" for c in self.colocations]
        out += [f"order {c.id}: {c.first} then {c.then} ({c.kind})" for c in self.orders]
        return "\n".join(out)

    def to_xml(self) -> str:
        out = [
            '<cib epoch="1" num_updates="0" admin_epoch="0" validate-with="pacemaker-3.7" '
            'have-quorum="1" dc-uuid="1">',
            "  <configuration>",
            "    <crm_config>",
            '      <cluster_property_set id="cib-bootstrap-options">',
            '        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/>',
            '        <nvpair id="opt-no-quorum-policy" name="no-quorum-policy" value="ignore"/>',
            "      </cluster_property_set>",
            "    </crm_config>",
            "    <nodes>",
        ]
        out += [f'      <node id="{n.id}" uname="{n.uname}"/>' for n in self.nodes]
        out += ["    </nodes>", "    <resources>"]
        for r in self.resources:
            out += _render_resource(r)
        out += ["    </resources>", "    <constraints>"]
        for loc in self.locations:
            out.append(
                f'      <rsc_location id="{loc.id}" rsc="{loc.rsc}" node="{loc.node}" score="{loc.score}"/>'
            )
        for col in self.colocations:
            out.append(
                f'      <rsc_colocation id="{col.id}" rsc="{col.rsc}" with-rsc="{col.with_rsc}" '
                f'score="{col.score}"/>'
            )
        for o in self.orders:
            out.append(f'      <rsc_order id="{o.id}" first="{o.first}" then="{o.then}" kind="{o.kind}"/>')
        out.append("    </constraints>")
        if self.stickiness is not None:
            out += [
                "    <rsc_defaults>",
                '      <meta_attributes id="rsc-options">',
                f'        <nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" '
                f'value="{self.stickiness}"/>',
                "      </meta_attributes>",
                "    </rsc_defaults>",
            ]
        out += ["  </configuration>", "  <status>"]
        for n in self.nodes:
            out += self._render_node_state(n)
        out += ["  </status>", "</cib>"]
        return "\n".join(out) + "\n"

    def primitive_states(self) -> list[tuple[str, set[str]]]:
        """Every primitive (as recorded in the status section) and the nodes it runs on."""
        res: list[tuple[str, set[str]]] = []
        for r in self.resources:
            if isinstance(r, Primitive):
                res.append((r.id, {r.running_on} if r.running_on else set()))
            elif isinstance(r, Group):
                for i, m in enumerate(r.members):
                    res.append((m, {r.node} if r.node is not None and i < r.running else set()))
            else:
                res.append((r.prim, set(r.running_on)))
        return res

    def _render_node_state(self, n: Node) -> list[str]:
        if not n.online:
            return [
                f'    <node_state id="{n.id}" uname="{n.uname}" in_ccm="false" crmd="offline" '
                'join="down" expected="down"/>'
            ]
        out = [
            f'    <node_state id="{n.id}" uname="{n.uname}" in_ccm="true" crmd="online" '
            'crm-debug-origin="do_state_transition" join="member" expected="member">',
            f'      <lrm id="{n.id}">',
            "        <lrm_resources>",
        ]
        call = 1
        for idx, (rid, running_on) in enumerate(self.primitive_states(), start=1):
            out.append(f'          <lrm_resource id="{rid}" type="Dummy" class="ocf" provider="heartbeat">')
            if n.uname in running_on:
                out.append(_op(rid, "start", 0, 0, call, idx, transition=4))
                out.append(_op(rid, "monitor", MONITOR_INTERVAL_MS, 0, call + 1, idx + 100, transition=4))
                call += 2
            else:
                out.append(_op(rid, "monitor", 0, 7, call, idx, transition=3))
                call += 1
            out.append("          </lrm_resource>")
        out += ["        </lrm_resources>", "      </lrm>", "    </node_state>"]
        return out


def _op(rid: str, task: str, interval_ms: int, rc: int, call_id: int, action: int, transition: int) -> str:
    """One lrm_rsc_op in the corpus's format (expected rc = actual rc: a success)."""
    key = f"{action}:{transition}:{rc}:{UUID}"
    if interval_ms:
        op_id = f"{rid}_{task}_{interval_ms}"
        digest = f'op-digest="{MONITOR_DIGEST}"'
    else:
        op_id = f"{rid}_last_0"
        digest = f'op-digest="{DIGEST}" op-force-restart=" state " op-restart-digest="{DIGEST}"'
    return (
        f'            <lrm_rsc_op id="{op_id}" operation_key="{rid}_{task}_{interval_ms}" '
        f'operation="{task}" crm-debug-origin="build_active_RAs" crm_feature_set="{FEATURE_SET}" '
        f'transition-key="{key}" transition-magic="0:{rc};{key}" call-id="{call_id}" '
        f'rc-code="{rc}" op-status="0" interval="{interval_ms}" last-run="1380754726" '
        f'last-rc-change="1380754726" exec-time="10" queue-time="0" {digest}/>'
    )


def _render_primitive(pid: str, indent: str) -> list[str]:
    return [
        f'{indent}<primitive class="ocf" id="{pid}" provider="heartbeat" type="Dummy">',
        f'{indent}  <operations><op id="{pid}-monitor-interval-60s" interval="60s" name="monitor"/></operations>',
        f"{indent}</primitive>",
    ]


def _render_resource(r: Resource) -> list[str]:
    if isinstance(r, Primitive):
        return _render_primitive(r.id, "      ")
    if isinstance(r, Group):
        out = [f'      <group id="{r.id}">']
        for m in r.members:
            out += _render_primitive(m, "        ")
        return out + ["      </group>"]
    out = [f'      <clone id="{r.id}">']
    out += _render_primitive(r.prim, "        ")
    if r.clone_max is not None:
        out += [
            f'        <meta_attributes id="{r.id}-meta">',
            f'          <nvpair id="{r.id}-meta-clone-max" name="clone-max" value="{r.clone_max}"/>',
            "        </meta_attributes>",
        ]
    return out + ["      </clone>"]


# ----------------------------------------------------------------- strategies

#: constraint scores: the interesting finite values, any small integer, and +/-INFINITY
scores: st.SearchStrategy[str] = st.one_of(
    st.sampled_from([INF, NINF]),
    st.sampled_from(["100", "-100", "10", "1000", "-1000", "0"]),
    st.integers(min_value=-2000, max_value=2000).map(str),
)

stickiness_values: st.SearchStrategy[str | None] = st.sampled_from(
    [None, "0", "1", "50", "100", "200", "1000", INF]
)


@st.composite
def node_lists(draw: st.DrawFn) -> list[Node]:
    n = draw(st.integers(min_value=2, max_value=4))
    # drawn as "offline?" so that examples shrink towards all nodes online
    offline = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda o: not all(o)))
    return [Node(id=str(i + 1), uname=f"node{i + 1}", online=not offline[i]) for i in range(n)]


Constraints = tuple[list[Location], list[Colocation], list[Order]]


@st.composite
def _constraints(draw: st.DrawFn, unames: list[str], ids: list[str]) -> Constraints:
    """Location, colocation and order constraints among ``ids`` (given in definition order).

    Each kind is one list of tuples, so that hypothesis shrinks by deleting whole constraints.
    """
    locs = draw(
        st.lists(
            st.tuples(st.sampled_from(ids), st.sampled_from(unames), scores), max_size=min(6, 2 * len(ids))
        )
    )
    locations = [Location(id=f"loc{i + 1}", rsc=r, node=n, score=s) for i, (r, n, s) in enumerate(locs)]
    if len(ids) < 2:
        return locations, [], []
    # (dependent, primary) with the primary defined first: no colocation cycle
    pairs = [(ids[b], ids[a]) for a in range(len(ids)) for b in range(a + 1, len(ids))]
    cols = draw(
        st.lists(
            st.tuples(st.sampled_from(pairs), scores), max_size=min(5, len(pairs)), unique_by=lambda t: t[0]
        )
    )
    colocations = [
        Colocation(id=f"col{i + 1}", rsc=rsc, with_rsc=with_rsc, score=score)
        for i, ((rsc, with_rsc), score) in enumerate(cols)
    ]
    # (first, then) with first defined first: no order cycle
    order_pairs = [(ids[a], ids[b]) for a in range(len(ids)) for b in range(a + 1, len(ids))]
    ords = draw(
        st.lists(
            st.tuples(st.sampled_from(order_pairs), st.sampled_from(["Mandatory", "Optional"])),
            max_size=min(5, len(order_pairs)),
            unique_by=lambda t: t[0],
        )
    )
    orders = [
        Order(id=f"ord{i + 1}", first=first, then=then, kind=kind)
        for i, ((first, then), kind) in enumerate(ords)
    ]
    return locations, colocations, orders


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Feature level 1: primitives only."""
    nodes = draw(node_lists())
    online = [n.uname for n in nodes if n.online]
    where = draw(st.lists(st.none() | st.sampled_from(online), min_size=1, max_size=6))
    resources: list[Resource] = [Primitive(id=f"rsc{i + 1}", running_on=w) for i, w in enumerate(where)]
    locations, colocations, orders = draw(_constraints([n.uname for n in nodes], [r.id for r in resources]))
    return Scenario(
        nodes=nodes,
        resources=resources,
        locations=locations,
        colocations=colocations,
        orders=orders,
        stickiness=draw(stickiness_values),
    )


@st.composite
def _level2_spec(draw: st.DrawFn, online: list[str], n_nodes: int) -> Callable[[int], Resource]:
    """A top-level resource of feature level 2, still to be numbered (so lists of them shrink well)."""
    kind = draw(st.sampled_from(["primitive", "group", "clone"]))
    if kind == "primitive":
        where = draw(st.none() | st.sampled_from(online))
        return lambda i: Primitive(id=f"rsc{i}", running_on=where)
    if kind == "group":
        size = draw(st.integers(min_value=1, max_value=3))
        node = draw(st.none() | st.sampled_from(online))
        running = 0 if node is None else draw(st.integers(min_value=1, max_value=size))
        return lambda i: Group(
            id=f"grp{i}", members=[f"grp{i}-m{j + 1}" for j in range(size)], node=node, running=running
        )
    clone_max = draw(st.none() | st.integers(min_value=1, max_value=n_nodes))
    running_on = draw(st.lists(st.sampled_from(online), unique=True, max_size=len(online)))
    running_on.sort(key=online.index)
    return lambda i: Clone(id=f"cln{i}-clone", prim=f"cln{i}", clone_max=clone_max, running_on=running_on)


@st.composite
def scenarios_level2(draw: st.DrawFn) -> Scenario:
    """Feature level 2: primitives, groups and anonymous clones."""
    nodes = draw(node_lists())
    online = [n.uname for n in nodes if n.online]
    specs = draw(st.lists(_level2_spec(online, len(nodes)), min_size=1, max_size=5))
    resources = [make(i + 1) for i, make in enumerate(specs)]
    locations, colocations, orders = draw(_constraints([n.uname for n in nodes], [r.id for r in resources]))
    return Scenario(
        nodes=nodes,
        resources=resources,
        locations=locations,
        colocations=colocations,
        orders=orders,
        stickiness=draw(stickiness_values),
    )
