"""The configuration's JSON form: decoding it gives exactly what parsing the stored YAML gives."""
from __future__ import annotations

import json

import pytest

from corral.cluster import configstore
from corral.model.cib import parse_cib, read_cib
from corral.model.config_json import decode_config, encode_config, from_data
from corral.model.load import load_config
from corral.model.yaml_config import parse_yaml_config

from .conftest import CONFORMANCE_XML, EXAMPLES

CIBS = sorted(CONFORMANCE_XML.glob("*.xml"))  # the whole Pacemaker corpus


def _stored_both_ways(cfg):
    record = json.loads(configstore.encode(cfg, "test"))
    from_yaml, _ = parse_yaml_config(record["yaml"], configstore.STORE_SOURCE)
    return decode_config(json.loads(json.dumps(record["model"]))), from_yaml


def test_every_conformance_cib_decodes_to_what_its_yaml_parses_to() -> None:
    assert len(CIBS) == 533
    mismatched, compared = [], 0
    for path in CIBS:
        try:
            cfg = parse_cib(read_cib(str(path)), str(path))
            from_json, from_yaml = _stored_both_ways(cfg)
        except ValueError:
            continue  # a CIB the YAML form cannot hold is refused by load, not stored
        compared += 1
        if from_json != from_yaml:
            mismatched.append(path.name)
    assert not mismatched
    assert compared >= 0.9 * len(CIBS)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*control-plane.yaml")), ids=lambda p: p.name)
def test_example_configuration_round_trips(path) -> None:
    from_json, from_yaml = _stored_both_ways(load_config(path, unsupported="warn"))
    assert from_json == from_yaml
    assert from_json.resources and from_json.locations is not None


def test_decode_reads_the_json_model_without_yaml(monkeypatch) -> None:
    cfg = load_config(sorted(EXAMPLES.glob("*control-plane.yaml"))[0], unsupported="warn")
    text = configstore.encode(cfg, "f.yaml")
    import corral.model.yaml_config as yaml_config

    monkeypatch.setattr(yaml_config, "parse_yaml_config", lambda *a, **k: pytest.fail("parsed the YAML"))
    decoded, source, _ = configstore.decode(text)
    assert source == "f.yaml" and decoded.resources


def test_a_record_without_the_model_or_with_a_newer_one_falls_back_to_the_yaml() -> None:
    cfg = load_config(sorted(EXAMPLES.glob("*control-plane.yaml"))[0], unsupported="warn")
    record = json.loads(configstore.encode(cfg, "f.yaml"))
    expected = configstore.decode(json.dumps(record))[0]
    for model in (None, {"format": 99, "config": {}}):
        changed = dict(record)
        if model is None:
            del changed["model"]
        else:
            changed["model"] = model
        assert configstore.decode(json.dumps(changed))[0] == expected


def test_unknown_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown configuration class"):
        from_data({"!": "os.system"})
    with pytest.raises(ValueError, match="bad Primitive"):
        from_data({"!": "Primitive", "nonsense": 1})
    assert encode_config(decode_config(encode_config(load_config(
        sorted(EXAMPLES.glob("*control-plane.yaml"))[0], unsupported="warn"))))["format"] == 1
