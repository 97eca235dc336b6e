"""Any text the profile writes reads back as the same text through Corral's YAML reader."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.model.yaml_reader import read_yaml
from corral.openstack.profile.yaml_out import scalar

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return getattr(value, "raw", value)  # type: ignore[return-value]


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_scalar_round_trips_in_flow_and_block(text: str) -> None:
    for block in (False, True):
        doc = f"k: {scalar(text, block=block)}\n" if block else f"m: {{k: {scalar(text)}}}\n"
        data = read_yaml(doc, "t").data
        value = data["k"] if block else data["m"]["k"]
        assert value is not None and _as_text(value) == text, (text, doc)


def test_plain_where_it_reads_back_the_same() -> None:
    assert scalar("ocf:heartbeat:IPaddr2", block=True) == "ocf:heartbeat:IPaddr2"
    assert scalar("ocf:heartbeat:IPaddr2") == '"ocf:heartbeat:IPaddr2"'   # not plain inside {...}
    assert scalar("10s") == "10s" and scalar("24") == "24" and scalar("-INFINITY") == "-INFINITY"
    assert scalar("${node:addr}") == '"${node:addr}"' and scalar("null") == '"null"' and scalar("") == '""'
