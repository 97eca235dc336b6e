"""Overrides of the profile's generated values: a settings file and `--set key=value`.

Every value the profile writes is read through `Settings` under a dotted key
(`vip.params.nic`, `keystone.ops.monitor.interval`, `haproxy.cfg.check-inter`), with the
generated value as its default. The keys are therefore exactly the values the layout reads:
after the layout is built, an override whose key was never read is unknown and an error that
names it (with the closest known key). An empty value means "leave it out" where a value is
optional (most agent parameters the profile does not set itself default to empty).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from corral.openstack.profile.inputs import ProfileInputError

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class Settings:
    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self.defaults: dict[str, str] = {}      # every key read, with its generated value
        self.values: dict[str, str] = {}        # every key read, with the value used
        self._free: list[str] = []               # prefixes under which any name is accepted

    def value(self, key: str, default: str | int) -> str:
        default = str(default)
        self.defaults.setdefault(key, default)
        value = self._overrides.get(key, default)
        self.values[key] = value
        return value

    def flag(self, key: str, default: bool) -> bool:
        text = self.value(key, "true" if default else "false").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ProfileInputError(f"setting {key}={text!r}: expected true or false")

    def port(self, key: str, default: int) -> int:
        text = self.value(key, default).strip()
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ProfileInputError(f"setting {key}={text!r}: expected a TCP port (1-65535)")
        return int(text)

    def count(self, key: str, default: int) -> int:
        text = self.value(key, default).strip()
        if not text.isdigit() or int(text) < 1:
            raise ProfileInputError(f"setting {key}={text!r}: expected a positive integer")
        return int(text)

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        options = list(choices)
        text = self.value(key, default).strip()
        for option in options:
            if text.lower() == option.lower():
                return option
        raise ProfileInputError(f"setting {key}={text!r}: expected one of {', '.join(options)}")

    def free(self, prefix: str) -> dict[str, str]:
        """Overrides under PREFIX with any name (fence agents' parameters differ per agent)."""
        self._free.append(prefix)
        found = {k[len(prefix):]: v for k, v in self._overrides.items() if k.startswith(prefix) and len(k) > len(prefix)}
        for k, v in found.items():
            self.defaults.setdefault(prefix + k, "")
            self.values[prefix + k] = v
        return found

    def check_unknown(self) -> None:
        unknown = [k for k in self._overrides
                   if k not in self.defaults and not any(k.startswith(p) for p in self._free)]
        if not unknown:
            return
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(self.defaults), n=1, cutoff=0.6)
            parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ProfileInputError(f"unknown setting {', '.join(parts)}; "
                                "`corral init --profile openstack-controller ... --list-settings` lists them all")


def parse_set(pairs: Iterable[str]) -> dict[str, str]:
    """`--set key=value` arguments (the last of a key wins)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProfileInputError(f"--set {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def read_settings_file(path: str | Path) -> dict[str, str]:
    """A YAML mapping of keys to values; nested mappings are joined with '.'
    (`keystone: {ops: {monitor: {interval: 5s}}}` is `keystone.ops.monitor.interval`)."""
    from corral.model.errors import ConfigError
    from corral.model.yaml_reader import read_yaml

    try:
        # Corral's own reader: YAML 1.2 scalars (`off` stays "off"), duplicate keys are errors.
        data = read_yaml(Path(path).read_text(encoding="utf-8"), str(path)).data
    except OSError as exc:
        raise ProfileInputError(f"--settings {path}: {exc.strerror or exc}") from None
    except ConfigError as exc:
        raise ProfileInputError(f"--settings {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileInputError(f"--settings {path}: expected a mapping of settings, got {type(data).__name__}")
    out: dict[str, str] = {}
    _flatten(data, "", out, str(path))
    return out


def _flatten(data: Mapping[object, object], prefix: str, out: dict[str, str], source: str) -> None:
    for raw_key, value in data.items():
        key = f"{prefix}{raw_key}"
        if isinstance(value, dict):
            _flatten(value, key + ".", out, source)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[key] = getattr(value, "raw", str(value))  # numbers as written: 0755, 1.10
        elif value is None:
            out[key] = ""
        else:
            raise ProfileInputError(f"--settings {source}: {key}: expected a text, number or boolean, "
                                    f"got {type(value).__name__}")
