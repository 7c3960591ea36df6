"""Typed service configuration, layered CLI > environment > file > default.

Each service declares one frozen dataclass. `build_config` fills it once, in `main`, from four
sources in order of precedence, and validates every value against the field's type, naming the
source of anything wrong. Nothing here reads the environment at import time.

Environment variables are `<PREFIX><FIELD>` in upper case (`INTERFLEET_ROUTER_PORT`), plus any
aliases a field lists in its metadata (`REDIS_URL`).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names where it came from."""


def env_aliases(*names: str) -> dict[str, tuple[str, ...]]:
    """Field metadata: extra environment variable names that set this field."""
    return {"env": names}


def cli_values(args: Any, cls: type) -> dict[str, Any]:
    """The options of an argparse namespace that are fields of `cls` (None where not given)."""
    return {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}


def load_file(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read a YAML config file into a mapping (empty when no path is given)."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def build_config(
    cls: type[T],
    *,
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    env_prefix: str = "",
    file: Mapping[str, Any] | None = None,
    file_name: str = "config file",
) -> T:
    """Build `cls` from CLI values (None means "not given"), environment, file section and defaults."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}

    for key, raw in (file or {}).items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{file_name}: unknown key '{key}' (known keys: {known})")
        values[key] = _coerce(raw, hints[key], f"{file_name}: '{key}'")

    for name, field in fields.items():
        for var in (env_prefix + name.upper(), *field.metadata.get("env", ())):
            if env is not None and env.get(var, "") != "":
                values[name] = _coerce(env[var], hints[name], f"environment variable {var}")
                break

    for name, raw in (cli or {}).items():
        if raw is not None:
            if name not in fields:
                raise ConfigError(f"unknown option '{name}'")
            values[name] = _coerce(raw, hints[name], f"option --{name.replace('_', '-')}")

    try:
        return cls(**values)
    except TypeError as exc:  # a required field had no value from any source
        raise ConfigError(str(exc)) from exc


def _coerce(raw: Any, hint: Any, where: str) -> Any:
    """Convert `raw` (from YAML, an env string or argparse) to the type `hint`."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(raw, inner, where)
    if origin is tuple:
        items = [s.strip() for s in raw.split(",") if s.strip()] if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {raw!r}")
        return tuple(_coerce(item, args[0], where) for item in items)
    if origin is dict or hint is dict:
        if isinstance(raw, str):
            raw = yaml.safe_load(raw) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
        return dict(raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if hint in (int, float, str):
        if isinstance(raw, bool) and hint is not str:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {raw!r}")
        try:
            return hint(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {raw!r}") from None
    return raw
