"""The configuration in the store: one key holding canonical Corral YAML.

Whatever came in (YAML or a CIB), it is validated first and stored as the YAML
`dump_yaml_config` writes, so every reader parses one format and operator
commands (move, ban, standby, ...) can edit it. Beside the YAML the record holds
the model that YAML parses to in plain JSON (corral.model.config_json): readers
decode that with the standard library, without the YAML parser and its
validation (a record without it, from an older version, is parsed from the YAML). Writes are compare-and-set on
the key's revision: two operators editing at once never lose an edit.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corral.cluster import keys
from corral.cluster.records import dumps, loads
from corral.model.config import Configuration
from corral.model.errors import ConfigError
from corral.store import Compare, Put, Store

STORE_SOURCE = "store:/corral/config"


@dataclass
class StoredConfig:
    config: Configuration
    revision: int          # mod_revision of the key: compare against it to edit
    source: str            # the file it was loaded from
    loaded_at: float


def encode(cfg: Configuration, source: str) -> str:
    from corral.model.config_json import encode_config
    from corral.model.yaml_config import parse_yaml_config
    from corral.model.yaml_dump import dump_yaml_config

    text = dump_yaml_config(cfg)
    # The JSON form is of what the YAML parses to, so both kinds of reader see one model.
    parsed, _ = parse_yaml_config(text, STORE_SOURCE)
    return dumps({"format": "corral-yaml", "source": source, "loaded_at": time.time(),
                  "yaml": text, "model": encode_config(parsed)})


def decode(text: str) -> tuple[Configuration, str, float]:
    d = loads(text, {})
    if not isinstance(d, dict) or "yaml" not in d:
        raise ConfigError(STORE_SOURCE, "not a Corral configuration record")
    return decode_record(d), str(d.get("source", "")), float(d.get("loaded_at", 0.0))


def decode_record(d: dict) -> Configuration:
    """The configuration of a decoded record: its JSON model if it has one, else its YAML."""
    if "model" in d:
        from corral.model.config_json import decode_config

        try:
            return decode_config(d["model"])
        except ValueError:
            pass  # a form this version does not read: the YAML is authoritative
    from corral.model.yaml_config import parse_yaml_config

    cfg, _ = parse_yaml_config(d["yaml"], STORE_SOURCE)
    return cfg


def read(store: Store) -> StoredConfig | None:
    kv = store.get(keys.CONFIG)
    if kv is None:
        return None
    cfg, source, loaded_at = decode(kv.value)
    return StoredConfig(cfg, kv.mod_revision, source, loaded_at)


def prepare_file(path: str | Path) -> tuple[Configuration, str]:
    """FILE validated, and the record to store for it (whose round trip is validated too).
    Raises ConfigError naming the file and place."""
    from corral.model.load import load

    cfg = load(path).config  # its warnings are in cfg.warnings, for the caller to show (not logged twice)
    text = encode(cfg, str(path))
    # What readers will parse must be what was validated: check the round trip now.
    reparsed, _, _ = decode(text)
    _validate(reparsed)
    return cfg, text


def load_file(store: Store, path: str | Path) -> tuple[Configuration, list[str]]:
    """Validate FILE and, only if it is accepted, make it the cluster's configuration.

    Raises ConfigError naming the file and place; the store is then untouched.
    Returns the configuration and its warnings.
    """
    cfg, text = prepare_file(path)
    store.put(keys.CONFIG, text)
    return cfg, list(cfg.warnings)


def _validate(cfg: Configuration) -> None:
    from corral.model.validate import validate

    validate(cfg, STORE_SOURCE, lenient=True)


def edit(store: Store, change: Callable[[Configuration], None], attempts: int = 20) -> Configuration:
    """Apply `change` to the stored configuration atomically (retrying on a concurrent edit).

    `change` may raise ConfigError to refuse; the result is validated, as readers will parse
    it, before it is written. (Operator verbs use cluster/change.py, which also checks the
    operator state and the scheduler.)
    """
    for _ in range(attempts):
        kv = store.get(keys.CONFIG)
        if kv is None:
            raise ConfigError(STORE_SOURCE, "the cluster has no configuration yet (corral load FILE)")
        cfg, source, _ = decode(kv.value)
        change(cfg)
        _validate(decode(encode(cfg, source))[0])
        if store.txn([Compare(keys.CONFIG, "mod_revision", "==", kv.mod_revision)],
                     [Put(keys.CONFIG, encode(cfg, source))]).succeeded:
            return cfg
    raise ConfigError(STORE_SOURCE, f"gave up after {attempts} concurrent edits")
