"""Load a YAML config into a typed pydantic model, apply `key=value` overrides, report errors by key and file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mentalglm.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
MAX_YAML_NODES = 10_000  # a config is hundreds of nodes; this bounds what is read before anything is built


def check_yaml_shape(text: str, where: str) -> None:
    """Refuse, from the parser's events alone (nothing is built or expanded), YAML with an alias (`*name`: the
    "billion laughs" expansion) or with more than MAX_YAML_NODES nodes.

    Raises:
        ConfigError: naming `where` and, for an alias, its line.
    """
    nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(f"{where}:{event.start_mark.line + 1}: YAML alias *{event.anchor} refused (configs take "
                              "no anchors and aliases: write the value out)")
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise ConfigError(f"{where}: more than {MAX_YAML_NODES} YAML nodes; a config is far smaller")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each dotted key path of a YAML document to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                sub = (*path, str(key_node.value))
                lines[sub] = key_node.start_mark.line + 1
                walk(value_node, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = (*path, str(i))
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected key=value, for example train.lr=1e-4")
    try:
        check_yaml_shape(raw, f"override {key.strip()}")
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {key}: value {raw!r} is not valid YAML ({exc})") from None
    return key.strip().split("."), value


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `dotted.key` in `data` to `value`, creating mappings as needed; list items by index (`sources.0`).

    Raises:
        ConfigError: the path runs through a non-container value or a bad list index.
    """
    path = key.split(".")
    node: Any = data
    for i, part in enumerate(path):
        where = ".".join(path[: i + 1])
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {key}: {where} is not a valid list index")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"override {key}: {'.'.join(path[:i])} is not a mapping")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each `dotted.key=value` (value parsed as YAML) in `data`; see `set_key`.

    Raises:
        ConfigError: a malformed override or a path through a non-container value.
    """
    for item in overrides:
        path, value = _parse_override(item)
        set_key(data, ".".join(path), value)
    return data


def with_values(cfg: M, values: dict[str, Any]) -> M:
    """A copy of `cfg` with each `dotted.key` of `values` set (paths as text), validated again.

    Raises:
        ConfigError: a value the schema refuses, naming its key.
    """
    data = cfg.model_dump(mode="json")
    for key, value in values.items():
        set_key(data, key, str(value) if isinstance(value, Path) else value)
    try:
        return type(cfg).model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, type(cfg).__name__, {}, set(values))) from None


def _format_errors(exc: ValidationError, source: str, lines: dict[tuple[str, ...], int],
                   overridden: set[str]) -> str:
    messages = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc) or "(top level)"
        # Find the deepest located ancestor, so a missing key points at its parent mapping.
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{source}:{line}" if line else source
        if key in overridden:
            where = f"{where} (override {key})"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        messages.append(f"{where}: {key}: {msg}")
    return "invalid config:\n  " + "\n  ".join(messages)


def load_config(schema: type[M], path: str | Path, overrides: list[str] | None = None) -> M:
    """Read `path` (YAML), apply `overrides`, and validate against `schema`.

    Args:
        schema: the pydantic model of this config kind.
        path: the YAML file.
        overrides: `dotted.key=value` strings applied after loading.

    Raises:
        ConfigError: the file is missing or not YAML, or a key is unknown or has a bad value; the message
            names the file, the key and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    try:
        check_yaml_shape(text, str(path))
        data = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    overrides = overrides or []
    data = apply_overrides(data, overrides)
    try:
        return schema.model_validate(data, context={"config_path": path})
    except ValidationError as exc:
        overridden = {o.partition("=")[0].strip() for o in overrides}
        raise ConfigError(_format_errors(exc, str(path), lines, overridden)) from None
