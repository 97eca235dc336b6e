r"""Hand-made CIBs for tests/scheduler/test_remote.py.

Regenerate, then record the reference summaries with the real crm_simulate 2.1.5:

    python3 make_cases.py . && for f in *.xml; do
      crm_simulate -x $f -S | sed -n '/^Transition Summary:/,/^Executing/p' | grep '^  \*' > ${f%.xml}.summary
    done
"""
import os
import sys

D = "f2317cad3d54cec5d7d7aa7d0bf35cf8"  # Pacemaker's digest of an empty parameter set

def op(rid, task, rc=0, call=1, interval=0, status=0, when=1000):
    exp = 7 if (task == "monitor" and interval == 0) else 0
    dig = f' op-digest="{D}"' if interval == 0 else ""
    return (f'<lrm_rsc_op id="{rid}_{task}_{interval}_{call}" operation_key="{rid}_{task}_{interval}" operation="{task}" '
            f'transition-key="{call}:1:{exp}:aaaa" transition-magic="{status}:{rc};{call}:1:{exp}:aaaa" call-id="{call}" '
            f'rc-code="{rc}" op-status="{status}" interval="{interval}" last-rc-change="{when}" exec-time="1" queue-time="0"{dig}/>')

def lrm(rid, typ="Dummy", cls="ocf", prov="pacemaker", ops=()):
    p = f' provider="{prov}"' if prov else ''
    return f'<lrm_resource id="{rid}" type="{typ}" class="{cls}"{p}>' + "".join(ops) + '</lrm_resource>'

def member(n, *rscs, attrs=""):
    ta = f'<transient_attributes id="{n}"><instance_attributes id="st-{n}">{attrs}</instance_attributes></transient_attributes>' if attrs else ""
    return (f'<node_state id="{n}" uname="{n}" in_ccm="true" crmd="online" join="member" expected="member">{ta}'
            f'<lrm id="{n}"><lrm_resources>{"".join(rscs)}</lrm_resources></lrm></node_state>')

def remote(n, *rscs):
    return (f'<node_state id="{n}" uname="{n}" remote_node="true"><lrm id="{n}"><lrm_resources>'
            f'{"".join(rscs)}</lrm_resources></lrm></node_state>')

def guest(n, *rscs):
    return (f'<node_state id="{n}" uname="{n}"><lrm id="{n}"><lrm_resources>'
            f'{"".join(rscs)}</lrm_resources></lrm></node_state>')

def cib(resources, status, constraints="", props="", execution="1000"):
    nodes = "".join(f'<node id="{n}" uname="{n}"/>' for n in ("n1", "n2", "n3"))
    return f'''<cib epoch="1" num_updates="0" admin_epoch="0" validate-with="pacemaker-3.0" have-quorum="1" dc-uuid="n1" execution-date="{execution}">
  <configuration>
    <crm_config><cluster_property_set id="o">{props}</cluster_property_set></crm_config>
    <nodes>{nodes}</nodes>
    <resources>{resources}</resources>
    <constraints>{constraints}</constraints>
  </configuration>
  <status>{status}</status>
</cib>
'''

FENCE = '<primitive class="stonith" id="fence" type="fence_xvm"/>'
R1 = '<primitive class="ocf" id="r1" provider="pacemaker" type="remote"/>'
def dummy(i): return f'<primitive class="ocf" id="{i}" provider="pacemaker" type="Dummy"/>'
def probe(rid, typ="Dummy", cls="ocf", prov="pacemaker"): return lrm(rid, typ, cls, prov, [op(rid, "monitor", rc=7)])
def started(rid, typ="Dummy", cls="ocf", prov="pacemaker", call=2): return lrm(rid, typ, cls, prov, [op(rid, "start", call=call)])
def FENCE_ON():
    return started("fence", "fence_xvm", "stonith", None)
def FENCE_NO():
    return probe("fence", "fence_xvm", "stonith", None)
def R1_ON():
    return started("r1", "remote")
def R1_NO():
    return probe("r1", "remote")

cases = {}
# 1. A remote node whose connection runs takes resources; fencing devices never go there.
cases["remote-online"] = cib(
    FENCE + R1 + dummy("d1") + dummy("d2"),
    member("n1", FENCE_NO(), R1_ON(), probe("d1"), probe("d2")) + member("n2", FENCE_NO(), R1_NO(), probe("d1"), probe("d2"))
    + member("n3", FENCE_NO(), R1_NO(), probe("d1"), probe("d2")) + remote("r1"),
    '<rsc_location id="l1" rsc="fence" node="r1" score="100"/><rsc_location id="l2" rsc="d1" node="r1" score="100"/>'
    '<rsc_location id="l3" rsc="r1" node="r1" score="200"/>')
# 2. A remote node whose connection is stopped: the connection starts, and the node is used at once.
cases["remote-connection-starts"] = cib(
    FENCE + R1 + dummy("d1"),
    member("n1", FENCE_ON(), R1_NO(), probe("d1")) + member("n2", FENCE_NO(), R1_NO(), probe("d1"))
    + member("n3", FENCE_NO(), R1_NO(), probe("d1")) + remote("r1"),
    '<rsc_location id="l2" rsc="d1" node="r1" score="100"/>')
# 3. Never seen: not fenced, not used.
cases["remote-never-seen"] = cib(
    FENCE + R1 + dummy("d1"),
    member("n1", FENCE_ON(), R1_NO(), probe("d1")) + member("n2", FENCE_NO(), R1_NO(), probe("d1"))
    + member("n3", FENCE_NO(), R1_NO(), probe("d1")),
    '<rsc_location id="l2" rsc="d1" node="r1" score="100"/>')
# 4. The connection's monitor failed while d1 ran there: the remote node is fenced, the connection recovers.
cases["remote-connection-fails"] = cib(
    FENCE + R1 + dummy("d1"),
    member("n1", FENCE_ON(), lrm("r1", "remote", ops=[op("r1", "start", call=2), op("r1", "monitor", rc=7, call=3, interval=60000)]), probe("d1"))
    + member("n2", FENCE_NO(), R1_NO(), probe("d1")) + member("n3", FENCE_NO(), R1_NO(), probe("d1"))
    + remote("r1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="r1" score="100"/>')
# 5. The cluster node hosting the connection is lost: the connection moves, the remote node is not fenced.
cases["remote-host-lost"] = cib(
    FENCE + R1 + dummy("d1"),
    member("n1", FENCE_ON(), probe("r1", "remote"), probe("d1"))
    + '<node_state id="n2" uname="n2" in_ccm="false" crmd="offline" join="member" expected="member"><lrm id="n2"><lrm_resources>'
    + R1_ON() + probe("d1") + '</lrm_resources></lrm></node_state>'
    + member("n3", FENCE_NO(), R1_NO(), probe("d1")) + remote("r1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="r1" score="100"/>')
# 6. reconnect_interval: a connection that failed 30 s ago waits before it is retried.
cases["remote-reconnect-wait"] = cib(
    FENCE + '<primitive class="ocf" id="r1" provider="pacemaker" type="remote"><instance_attributes id="r1-ia">'
    '<nvpair id="r1-ri" name="reconnect_interval" value="60s"/></instance_attributes></primitive>' + dummy("d1"),
    member("n1", FENCE_ON(), lrm("r1", "remote", ops=[op("r1", "stop", call=4, when=970), op("r1", "monitor", rc=1, call=3, interval=60000, status=4, when=970)]), probe("d1"),
           attrs='<nvpair id="fc" name="fail-count-r1#monitor_60000" value="1"/><nvpair id="lf" name="last-failure-r1#monitor_60000" value="970"/>')
    + member("n2", FENCE_NO(), R1_NO(), probe("d1")) + member("n3", FENCE_NO(), R1_NO(), probe("d1")) + remote("r1"),
    '<rsc_location id="l2" rsc="d1" node="r1" score="100"/>', execution="1000")
# 7. A guest node inside a VM resource: its container failed, so the guest is fenced by recovering it.
VM = ('<primitive class="ocf" id="vm1" provider="pacemaker" type="Dummy"><meta_attributes id="vm1-m">'
      '<nvpair id="vm1-rn" name="remote-node" value="g1"/></meta_attributes></primitive>')
cases["guest-container-fails"] = cib(
    FENCE + VM + dummy("d1"),
    member("n1", FENCE_ON(), lrm("vm1", ops=[op("vm1", "start", call=2), op("vm1", "monitor", rc=7, call=5, interval=10000)]),
           started("g1", "remote", call=3), probe("d1"))
    + member("n2", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + member("n3", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + guest("g1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="g1" score="100"/><rsc_location id="l3" rsc="vm1" node="n1" score="50"/>')
# 8. A guest whose container moves: what runs inside restarts with it.
cases["guest-container-moves"] = cib(
    FENCE + VM + dummy("d1"),
    member("n1", FENCE_ON(), started("vm1"), started("g1", "remote", call=3), probe("d1"))
    + member("n2", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + member("n3", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + guest("g1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="g1" score="100"/><rsc_location id="l3" rsc="vm1" node="n2" score="50"/>')
# 9. resource-discovery=exclusive keeps a resource to the nodes its constraint names.
cases["discovery-exclusive"] = cib(
    FENCE + dummy("d1"),
    member("n1", FENCE_ON()) + member("n2") + member("n3"),
    '<rsc_location id="l1" rsc="d1" node="n3" score="0" resource-discovery="exclusive"/>'
    '<rsc_location id="l2" rsc="d1" node="n1" score="100"/>')
# 10-13. Resources with `container` meta ("fillers") run inside vm1.
def filler(i, on_fail=""):
    of = f' on-fail="{on_fail}"' if on_fail else ""
    return (f'<primitive class="ocf" id="{i}" provider="pacemaker" type="Dummy"><meta_attributes id="{i}-m">'
            f'<nvpair id="{i}-c" name="container" value="vm1"/></meta_attributes><operations>'
            f'<op id="{i}-mon" name="monitor" interval="10s"{of}/></operations></primitive>')
CONTAINER = ('<primitive class="ocf" id="vm1" provider="pacemaker" type="Dummy"><meta_attributes id="vm1-m">'
             '<nvpair id="vm1-mt" name="migration-threshold" value="3"/></meta_attributes></primitive>')
def FILLER_FAILED(rid, call=4):
    return lrm(rid, ops=[op(rid, "start", call=2), op(rid, "monitor", rc=1, call=call, interval=10000)])
PREFER_N1 = '<rsc_location id="l-vm1" rsc="vm1" node="n1" score="50"/>'
def others(n):
    return member(n, FENCE_NO(), probe("vm1"), probe("f1"), probe("f2"))
# 10. A filler's monitor fails: its container restarts in place, the other filler restarts behind it.
cases["filler-fails-restarts-container"] = cib(
    FENCE + CONTAINER + filler("f1") + filler("f2"),
    member("n1", FENCE_ON(), started("vm1"), FAILED_F1 := FILLER_FAILED("f1"), started("f2"),
           attrs='<nvpair id="fc1" name="fail-count-f1#monitor_10000" value="1"/>')
    + others("n2") + others("n3"), PREFER_N1)
# 11. on-fail=restart configured on the filler's monitor: only the filler recovers.
cases["filler-on-fail-restart"] = cib(
    FENCE + CONTAINER + filler("f1", "restart") + filler("f2"),
    member("n1", FENCE_ON(), started("vm1"), FAILED_F1, started("f2"),
           attrs='<nvpair id="fc1" name="fail-count-f1#monitor_10000" value="1"/>')
    + others("n2") + others("n3"), PREFER_N1)
# 12. A filler's stop failed: the container's stop takes it down, it starts again (no fencing).
cases["filler-stop-fails"] = cib(
    FENCE + CONTAINER + filler("f1") + filler("f2"),
    member("n1", FENCE_ON(), started("vm1"), lrm("f1", ops=[op("f1", "start", call=2), op("f1", "stop", rc=1, call=4)]),
           started("f2"), attrs='<nvpair id="fc1" name="fail-count-f1#stop_0" value="1"/>')
    + others("n2") + others("n3"), PREFER_N1)
# 13. The container's fail count includes its fillers' (fail-count-ID): 1 + 2 reaches its
#     migration-threshold of 3, so it moves and its fillers with it.
# 14. The same counts recorded per operation (fail-count-ID#OP_INTERVAL) are not added to it.
for name, suffix in (("filler-fail-counts-move-container", ""), ("filler-op-fail-counts-stay", "#monitor_10000")):
    cases[name] = cib(
        FENCE + CONTAINER + filler("f1") + filler("f2"),
        member("n1", FENCE_ON(), started("vm1"), FAILED_F1, started("f2"),
               attrs=f'<nvpair id="fc1" name="fail-count-f1{suffix}" value="1"/>'
                     f'<nvpair id="fc2" name="fail-count-f2{suffix}" value="2"/>')
        + others("n2") + others("n3"), PREFER_N1)
# 15-16. A failed start bans its node only through the fail count the agent recorded for it
#     (start-failure-is-fatal makes that INFINITY); without one the resource recovers in place.
for name, attrs in (("start-failure-without-fail-count", ""),
                    ("start-failure-with-fail-count", '<nvpair id="fc" name="fail-count-d1" value="INFINITY"/>')):
    cases[name] = cib(
        FENCE + dummy("d1"),
        member("n1", FENCE_ON(), lrm("d1", ops=[op("d1", "start", rc=1, call=3)]), attrs=attrs)
        + member("n2", FENCE_NO(), probe("d1")) + member("n3", FENCE_NO(), probe("d1")),
        '<rsc_location id="l-d1" rsc="d1" node="n1" score="50"/>')
# 17. A guest's connection counts as a filler of its container: the connection's fail count
#     on n1 keeps the container (which prefers n1) off n1.
cases["guest-connection-fail-count-moves-container"] = cib(
    FENCE + VM,
    member("n1", FENCE_ON(), probe("vm1"), probe("g1", "remote"),
           attrs='<nvpair id="fc" name="fail-count-g1" value="INFINITY"/>')
    + member("n2", FENCE_NO(), probe("vm1"), probe("g1", "remote"))
    + member("n3", FENCE_NO(), probe("vm1"), probe("g1", "remote")),
    '<rsc_location id="l3" rsc="vm1" node="n1" score="50"/>')
# 18. A guest whose failed container cannot run anywhere any more is fenced "off" (its
#     container stops), not rebooted.
cases["guest-container-cannot-restart-fence-off"] = cib(
    FENCE + VM.replace('<nvpair id="vm1-rn"', '<nvpair id="vm1-mt" name="migration-threshold" value="1"/><nvpair id="vm1-rn"') + dummy("d1"),
    member("n1", FENCE_ON(), lrm("vm1", ops=[op("vm1", "start", call=2), op("vm1", "monitor", rc=7, call=5, interval=10000)]),
           started("g1", "remote", call=3), probe("d1"), attrs='<nvpair id="fc" name="fail-count-vm1" value="1"/>')
    + member("n2", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + member("n3", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + guest("g1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="g1" score="100"/><rsc_location id="l3" rsc="vm1" node="n2" score="-INFINITY"/>'
    '<rsc_location id="l4" rsc="vm1" node="n3" score="-INFINITY"/>')
# 19-21. A node gone from the membership (expected back) is fenced, unless it had asked to
#     shut down (its `shutdown` attribute): then it left cleanly, if nothing still ran there.
SD = '<nvpair id="sd" name="shutdown" value="990"/>'
for name, attrs, last in (("node-gone-fenced", "", "stop"), ("node-gone-after-shutdown-request", SD, "stop"),
                          ("node-gone-after-shutdown-request-with-resources", SD, "start")):
    ta = f'<transient_attributes id="n2"><instance_attributes id="st-n2">{attrs}</instance_attributes></transient_attributes>' if attrs else ""
    cases[name] = cib(
        FENCE + dummy("d1"),
        member("n1", FENCE_ON(), started("d1"))
        + f'<node_state id="n2" uname="n2" in_ccm="false" crmd="offline" join="down" expected="member">{ta}'
          '<lrm id="n2"><lrm_resources>' + FENCE_NO() + lrm("d1", ops=[op("d1", last, call=3)]) + '</lrm_resources></lrm></node_state>'
        + member("n3", FENCE_NO(), probe("d1")))
# 22-23. A failure recorded with parameters the configuration no longer has is cleared with
#     its fail count (d1 starts on n1 again); with the same parameters it still bans n1.
for name, params in (("fail-count-of-old-parameters-cleared", '<instance_attributes id="d1-ia"><nvpair id="d1-f" name="fake" value="2"/></instance_attributes>'),
                     ("fail-count-of-same-parameters-bans", "")):
    cases[name] = cib(
        FENCE + f'<primitive class="ocf" id="d1" provider="pacemaker" type="Dummy">{params}</primitive>',
        member("n1", FENCE_ON(), lrm("d1", ops=[op("d1", "stop", call=4),
                                                 op("d1", "start", rc=1, call=3).replace('id="d1_start_0_3"', 'id="d1_last_failure_0"')]),
               attrs='<nvpair id="fc" name="fail-count-d1" value="INFINITY"/>')
        + member("n2", FENCE_NO(), probe("d1")) + member("n3", FENCE_NO(), probe("d1")),
        '<rsc_location id="l-d1" rsc="d1" node="n1" score="50"/>')
# 24. Resources reported active inside a guest whose container runs nowhere: the guest is
#     lost and fenced by starting its container; what ran inside is recovered there.
cases["guest-resources-without-container"] = cib(
    FENCE + VM + dummy("d1"),
    member("n1", FENCE_ON(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + member("n2", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + member("n3", FENCE_NO(), probe("vm1"), probe("g1", "remote"), probe("d1"))
    + guest("g1", started("d1")),
    '<rsc_location id="l2" rsc="d1" node="g1" score="100"/><rsc_location id="l3" rsc="vm1" node="n2" score="50"/>')

out = sys.argv[1]
for name, xml in cases.items():
    open(os.path.join(out, name + ".xml"), "w").write(xml)
