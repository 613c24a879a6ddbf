"""Typed configuration: dataclasses loaded strictly from YAML.

Every params file maps onto a dataclass. Loading refuses unknown keys, wrong types and missing required fields with
an error that names the file and the dotted key, so a typo in `params/` never silently falls back to a default.

    @dataclass
    class OptimConfig(Config):
        lr: float = 1e-5
        "peak learning rate"

    cfg = OptimConfig.from_yaml("params/tiny/stages/stage1.yaml")          # whole file
    cfg = OptimConfig.from_yaml("params/tiny/stages/stage1.yaml", key="optim")  # one section of it

Validation that goes beyond types lives in each dataclass's `__post_init__` (raise `ConfigError`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T", bound="Config")


class ConfigError(ValueError):
    """A params file or mapping that does not fit its dataclass; the message names the file and key."""


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges are not duplicates
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice, on line {seen[key]} and on line {line}",
                    key_node.start_mark)
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep)


def read_text_utf8(path: Path) -> str:
    """The text of `path`; bytes that are not UTF-8 are a `ConfigError` naming the file and the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x}); save the file as "
                          "UTF-8") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing, unparsable or non-mapping file, a key written twice or bytes that are not
    UTF-8 are a `ConfigError` naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.load(read_text_utf8(path), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _is_optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp` (recursing into dataclasses, lists and dicts)."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        errors = []
        for arm in get_args(tp):
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {_coerce(k, key_tp, where): _coerce(v, val_tp, _child(where, str(k))) for k, v in value.items()}
    if tp is float:
        # YAML reads `1e-5` as a string (YAML 1.1); accept numeric strings and ints for float fields.
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        number = None
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):  # `.inf`, `.nan`, `1e400`: a run trains to NaN on them
            raise ConfigError(f"{where}: {value!r} is not a finite number")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    return value


def _child(where: str, name: str) -> str:
    """`file.yaml` + `lr` -> `file.yaml: lr`; `file.yaml: optim` + `lr` -> `file.yaml: optim.lr`."""
    return f"{where}.{name}" if ": " in where else f"{where}: {name}"


def _build(cls: type[T], data: dict[str, Any], where: str) -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} for {cls.__name__} (known keys: {known})")
    kwargs = {}
    for name, field in fields.items():
        key_where = _child(where, name)
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key_where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r} for {cls.__name__}")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


@dataclasses.dataclass
class Config:
    """Base class of every params dataclass: strict loading, dumping and a stable fingerprint."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>") -> T:
        """Build from a mapping; `source` (a file name, maybe with a key) prefixes every error."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
        return _build(cls, data, source)

    @classmethod
    def from_yaml(cls: type[T], path: str | Path, key: str | None = None, overrides: list[str] | None = None) -> T:
        """Load `path` (or its top-level section `key`) strictly; `overrides` are `KEY=VALUE` assignments
        (`--set optim.lr=1e-4`, `apply_assignments`) applied on top of the file, checked as strictly."""
        data = read_yaml(path)
        source = str(path)
        if key is not None:
            if key not in data:
                raise ConfigError(f"{path}: missing section {key!r}")
            data, source = data[key], f"{path}: {key}"
        if overrides:
            data = apply_assignments(cls, data, overrides)
            source = source.replace(str(path), f"{path} with --set {' '.join(overrides)}", 1)
        return cls.from_dict(data, source)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe mapping (paths as strings, tuples as lists)."""
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def is_optional(tp: Any) -> bool:
    """Whether an annotation admits None (used by callers that render configs)."""
    return _is_optional(tp)


# ---- command-line overrides: `--set optim.lr=1e-4` ----------------------------------------------------------------

def parse_assignment(text: str, flag: str = "--set") -> tuple[str, Any]:
    """`optim.lr=1e-4` -> ("optim.lr", "1e-4"); the value is read as YAML (`2048` an int, `true` a bool, `[a, b]` a
    list, `null` None), exactly as it would be read from the params file."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} {text!r}: expected KEY=VALUE with a dotted key, e.g. optim.lr=1e-4")
    try:
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"{flag} {text!r}: the value is not valid YAML ({err})") from err
    return key.strip(), value


def _field_type(cls: type, dotted: str, flag: str) -> Any:
    """The annotation of the dotted key under dataclass `cls`; an unknown key is an error naming it and its
    section's known keys (an Optional[Dataclass] section is walked into; a dict field takes any key below it)."""
    tp: Any = cls
    walked: list[str] = []
    for name in dotted.split("."):
        if get_origin(tp) in (Union, types.UnionType):  # `SFTDataConfig | None`: the dataclass arm
            tp = next((a for a in get_args(tp) if dataclasses.is_dataclass(a)), tp)
        if get_origin(tp) is dict:
            tp = (get_args(tp) or (Any, Any))[1]
        elif dataclasses.is_dataclass(tp):
            fields = {f.name for f in dataclasses.fields(tp) if f.init}
            if name not in fields:
                section = ".".join(walked) or tp.__name__
                raise ConfigError(f"{flag} {dotted}: unknown key {'.'.join(walked + [name])!r} (known keys of "
                                  f"{section}: {', '.join(sorted(fields))})")
            tp = get_type_hints(tp)[name]
        else:
            raise ConfigError(f"{flag} {dotted}: {'.'.join(walked)!r} is a value, not a section")
        walked.append(name)
    return tp


def apply_assignments(cls: type, data: dict[str, Any], assignments: list[str], flag: str = "--set"
                      ) -> dict[str, Any]:
    """A copy of `data` (the mapping a params file holds for `cls`) with each `KEY=VALUE` set. Each key must be a
    field of `cls` (dotted into its sections) and each value must fit the field's type, checked by the same
    `_coerce` as the file; the caller builds `cls` from the result, which runs the dataclasses' own checks."""
    out = yaml.safe_load(yaml.safe_dump(_plain(data)))  # a deep copy of plain data
    for text in assignments:
        dotted, value = parse_assignment(text, flag)
        _coerce(value, _field_type(cls, dotted, flag), f"{flag} {dotted}")  # raises naming the override
        node, keys = out, dotted.split(".")
        for k in keys[:-1]:
            if node.get(k) is None:  # a section left at its default (or null) in the file
                node[k] = {}
            node = node[k]
        node[keys[-1]] = value
    return out
