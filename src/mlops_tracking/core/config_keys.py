"""Keys and values of a config, checked and explained: ``--set`` overrides, unknown keys.

Pydantic alone says "extra inputs are not permitted"; these checks name the key, suggest the
closest valid one (``model.max_dept`` → ``model.random_forest.max_depth``) and list the valid
keys of that section. They work on any tree of pydantic models; ``config.py`` holds ours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from mlops_tracking.core.errors import ConfigError


def apply_overrides(
    tree: dict[str, Any], overrides: Iterable[str], model: type[BaseModel]
) -> dict[str, Any]:
    """Return a copy of ``tree`` with each ``a.b.c=value`` applied; values are parsed as YAML.

    Each key must name a field of ``model``; a text field keeps the value as typed.
    """
    result = _deep_copy(tree)
    for override in overrides:
        key, separator, text = override.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {override!r} (e.g. model.name=mlp)")
        value = _parse_value(text, text_field=_check_key_path(key.split("."), model, override))
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[leaf] = value
    return result


def _parse_value(text: str, text_field: bool) -> Any:
    """YAML scalars (``5``, ``true``, ``null``, ``[64, 32]``) except for text fields.

    Text fields (names, descriptions, tags, column names) keep what was typed: a run named
    ``2024`` or a tag ``sprint=42`` must not become a number.
    """
    stripped = text.strip()
    if stripped in {"", "null", "~"}:
        return None
    if text_field:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _is_text(annotation: Any) -> bool:
    return annotation is str or (
        get_origin(annotation) in {Union, UnionType}
        and set(get_args(annotation)) <= {str, type(None)}
    )


def _deep_copy(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in tree.items()}


def _section_fields(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Map each field of ``model`` to its nested section type (None for leaf fields)."""
    fields: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        fields[name] = annotation if nested else None  # type: ignore[assignment]
    return fields


def _unknown_key_message(key: str, where: str, model: type[BaseModel]) -> str:
    valid = list(model.model_fields)
    parent, _, leaf = key.rpartition(".")
    prefix = f"{parent}." if parent else ""
    hint = difflib.get_close_matches(leaf, valid, n=1)
    suggestion = f" Did you mean '{prefix}{hint[0]}'?" if hint else ""
    if not hint:
        nested = [prefix + path for path in _nested_matches(leaf, model)]
        if nested:
            suggestion = f" Did you mean {' or '.join(nested)}?"
    return f"unknown key '{key}' in {where}.{suggestion} Valid keys here: {', '.join(valid)}."


def _nested_matches(leaf: str, model: type[BaseModel]) -> list[str]:
    """Find ``leaf`` (or a close spelling) inside the sections of ``model``."""
    matches = []
    for name, nested in _section_fields(model).items():
        if nested is not None:
            for close in difflib.get_close_matches(leaf, list(nested.model_fields), 1, 0.8):
                matches.append(f"{name}.{close}")
    return matches


def _check_key_path(parts: list[str], model: type[BaseModel], override: str) -> bool:
    """Check that ``parts`` names a field; return whether that field holds free text."""
    current: type[BaseModel] | None = model
    annotation: Any = None
    for depth, part in enumerate(parts):
        if current is None:
            text = get_origin(annotation) is dict and _is_text(get_args(annotation)[1])
            if text and depth == len(parts) - 1:
                return True  # a free-form mapping of text, one level: tracking.tags.owner=me
            if get_origin(annotation) is dict and not text:
                # a mapping of sections, any depth: sweep.space.mlp.alpha.high=0.01 (validated
                # with the whole config)
                return False
            raise ConfigError(f"--set {override}: '{'.'.join(parts[:depth])}' is not a section")
        fields = _section_fields(current)
        if part not in fields:
            dotted = ".".join(parts[: depth + 1])
            raise ConfigError(_unknown_key_message(dotted, f"--set {override}", current))
        annotation = current.model_fields[part].annotation
        current = fields[part]
    return _is_text(annotation)


def check_known_keys(
    tree: Mapping[str, Any], model: type[BaseModel], origin: str, prefix: str = ""
) -> None:
    """Reject unknown keys with a suggestion (pydantic alone says only 'extra inputs')."""
    fields = _section_fields(model)
    for key, value in tree.items():
        if key not in fields:
            raise ConfigError(_unknown_key_message(f"{prefix}{key}", origin, model))
        nested = fields[key]
        if nested is not None and isinstance(value, Mapping):
            check_known_keys(value, nested, origin, f"{prefix}{key}.")


def describe(error: ValidationError, origin: str) -> str:
    """Pydantic's errors as one line per key: where, what is wrong, and what was given."""
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not str(part).startswith("<"))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        shown = "" if item["type"] in {"missing", "value_error"} else f" (got {item['input']!r})"
        if not location and re.match(r"[\w.]+: ", message):
            lines.append(f"  {message}")  # a whole-config check names its own key
        else:
            lines.append(f"  {location or 'config'}: {message}{shown}")
    return "\n".join(lines)
