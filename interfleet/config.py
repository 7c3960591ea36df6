"""Typed service configuration, layered CLI > environment > file > default.

Each service declares one frozen dataclass with `@config_class`. `build_config` fills it once,
in `main`, from four sources in order of precedence. Pydantic validates every value against the
field's type (lax where text must become a number, never lossy: `2.5` is not an int, `maybe` is
not a bool) and runs the class's own `__post_init__` checks; anything wrong is reported with the
source it came from. Nothing here reads the environment at import time.

Environment variables are `<PREFIX><FIELD>` in upper case (`INTERFLEET_ROUTER_PORT`), plus any
aliases a field lists in its metadata (`REDIS_URL`). In the environment and on the command line a
list is comma-separated (`0,1`) and a mapping is inline YAML (`{mark_ratio: 1.5}`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from interfleet.errors import ConfigError

T = TypeVar("T")

# Numbers become text where a field is text (`worker_id: 7` in YAML); nothing else is bent.
_VALIDATION = pydantic.ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def config_class(cls: type[T]) -> type[T]:
    """Declare a service's config: a frozen dataclass that `build_config` validates with pydantic."""
    return pydantic.with_config(_VALIDATION)(dataclasses.dataclass(frozen=True)(cls))


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
    sources: dict[str, str] = {}

    def take(name: str, raw: Any, where: str) -> None:
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown setting (known: {known})")
        values[name], sources[name] = _from_text(raw, hints[name], where), where

    for key, raw in (file or {}).items():
        take(key, raw, f"{file_name}: '{key}'")
    for name, field in fields.items():
        for var in (env_prefix + name.upper(), *field.metadata.get("env", ())):
            if env is not None and env.get(var, "") != "":
                take(name, env[var], f"environment variable {var}")
                break
    for name, raw in (cli or {}).items():
        if raw is not None:
            take(name, raw, f"option --{name.replace('_', '-')}")

    try:
        return _adapter(cls).validate_python(values)
    except pydantic.ValidationError as exc:
        raise ConfigError(
            "; ".join(_explain(error, sources, cls.__name__) for error in exc.errors())
        ) from None


@functools.cache
def _adapter(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(cls)


def _explain(error: Mapping[str, Any], sources: Mapping[str, str], owner: str) -> str:
    """One pydantic error as a sentence that names the setting's source and the value given."""
    loc = error["loc"]
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a check of the whole object (`__post_init__`)
        return message
    name = str(loc[0])
    if error["type"] == "missing":
        return f"{owner}: '{name}' is required and was not given"
    where = sources.get(name, f"'{name}'")
    inner = "".join(f"[{part}]" for part in loc[1:])
    return f"{where}{inner}: {message} (got {error['input']!r})"


def _from_text(raw: Any, hint: Any, where: str) -> Any:
    """A list or mapping written as text (environment, command line) in the shape the field expects."""
    if not isinstance(raw, str):
        return raw
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else hint
    origin = typing.get_origin(hint) or hint
    if origin is tuple or origin is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if origin is dict:
        try:
            return yaml.safe_load(raw) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: expected a mapping in YAML, got {raw!r} ({exc})") from None
    return raw
