"""MkDocs hook: the reference pages are generated from the code, never copied by hand.

A page that holds ``<!-- generated: configuration -->`` gets one table per ``params.yaml``
section, built from the config schema (``core/config.py``: every key, its type, its default and
its bounds) with the value and comment that ``params.yaml`` gives it. A page that holds
``<!-- generated: commands -->`` gets every command of the ``mlops-tracking`` CLI with its
usage, help and options, read from the Typer app. A key or command added to the code appears
in the docs at the next build.
"""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- generated: (configuration|commands) -->")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each generation marker with its generated Markdown."""
    return MARKER.sub(lambda match: GENERATORS[match.group(1)](), markdown)


# --- configuration -------------------------------------------------------------------------


def configuration_markdown() -> str:
    """One table per top-level section: key, type, default, bounds, params.yaml value and note."""
    import yaml

    from mlops_tracking.core.config import Config, flatten

    params_path = ROOT / "params.yaml"
    defaults = flatten(Config().model_dump())
    values = flatten(yaml.safe_load(params_path.read_text()))
    notes = yaml_comments(params_path.read_text())
    blocks: list[str] = []
    for section, field in Config.model_fields.items():
        annotation = field.annotation
        if not is_section(annotation):
            continue
        rows = [
            "| Key | Type | Default | Bounds | In params.yaml | What it does |",
            "|---|---|---|---|---|---|",
        ]
        for key, leaf in schema_leaves(annotation, section):
            rows.append(
                "| `{}` | {} | {} | {} | {} | {} |".format(
                    key,
                    cell(type_text(leaf.annotation)),
                    code_cell(defaults.get(key, "")),
                    cell(bounds_text(leaf)),
                    code_cell(values.get(key, "")) if key in values else "",
                    cell(notes.get(key, "")),
                )
            )
        doc = (annotation.__doc__ or "").strip().splitlines()
        heading = f"### `{section}`\n\n" + (f"{doc[0]}\n\n" if doc else "")
        blocks.append(heading + "\n".join(rows))
    return "\n\n".join(blocks)


def schema_leaves(model: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every leaf field of a pydantic model tree as (dotted key, FieldInfo), in schema order.

    A mapping of sections (``registry.aliases``) is listed once per key of its default, and so
    is a mapping of mappings of sections (``sweep.space``).
    """
    leaves: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}"
        annotation = field.annotation
        if is_section(annotation):
            leaves.extend(schema_leaves(annotation, key))
        elif get_origin(annotation) is dict and is_section(get_args(annotation)[1]):
            for entry in field.get_default(call_default_factory=True):
                leaves.extend(schema_leaves(get_args(annotation)[1], f"{key}.{entry}"))
        elif get_origin(annotation) is dict and get_origin(get_args(annotation)[1]) is dict:
            # a mapping of mappings of sections (sweep.space.<family>.<name>): each default one
            for outer, inner in field.get_default(call_default_factory=True).items():
                for dimension, section in inner.items():
                    leaves.extend(schema_leaves(type(section), f"{key}.{outer}.{dimension}"))
        else:
            leaves.append((key, field))
    return leaves


def is_section(annotation: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def type_text(annotation: Any) -> str:
    """A readable type: ``int or null``, ``one of auto, binary``, ``list of str``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(type_text(arg) for arg in get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in get_args(annotation))
    if origin in (tuple, list):
        args = [arg for arg in get_args(annotation) if arg is not Ellipsis]
        return "list of " + (type_text(args[0]) if args else "values")
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(field: Any) -> str:
    """The numeric bounds pydantic enforces (``>= 1``, ``> 0``, ``<= 0.5``)."""
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = []
    for item in field.metadata:
        for attribute, symbol in symbols.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
COMMENT_LINE = re.compile(r"^ +#\s?(?P<text>.*)$")


def yaml_comments(text: str) -> dict[str, str]:
    """The comment after each key of ``params.yaml``, with its indented continuation lines."""
    notes: dict[str, str] = {}
    path: list[tuple[int, str]] = []
    last_key = ""
    for line in text.splitlines():
        key_line = KEY_LINE.match(line)
        if key_line:
            indent = len(key_line.group("indent"))
            path = [(level, name) for level, name in path if level < indent]
            path.append((indent, key_line.group("key")))
            last_key = ".".join(name for _, name in path)
            _, _, comment = key_line.group("rest").partition(" #")
            if comment.strip():
                notes[last_key] = comment.strip()
            continue
        continuation = COMMENT_LINE.match(line)
        if continuation and last_key in notes:
            notes[last_key] += " " + continuation.group("text").strip()
        else:
            last_key = ""
    return notes


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code_cell(value: Any) -> str:
    """A value as YAML writes it, in backticks."""
    if value is None:
        shown = "null"
    elif isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, (tuple, list)):
        shown = "[" + ", ".join(str(item) for item in value) + "]"
    else:
        shown = str(value)
    return f"`{cell(shown)}`" if shown else ""


# --- commands --------------------------------------------------------------------------------


def commands_markdown() -> str:
    """Every command of the CLI: a heading, its usage, its help text and an options table."""
    import typer

    from mlops_tracking.cli.app import app

    root = typer.main.get_command(app)
    blocks: list[str] = []
    for path, command in walk_commands(root, ["mlops-tracking"]):
        context = command.context_class(command, info_name=" ".join(path))
        pieces = command.collect_usage_pieces(context)
        usage = " ".join([*path, *pieces])
        # click spells a required argument {run_id} and an optional one [name]
        usage = re.sub(r"\{([a-z_]+)\}", lambda m: m.group(1).upper(), usage)
        usage = re.sub(r"\[([a-z_]+)\]", lambda m: f"[{m.group(1).upper()}]", usage)
        help_text = (command.help or "").strip()
        block = [f"### `{' '.join(path[1:])}`", "", f"```text\n{usage}\n```", "", help_text]
        options = [param for param in command.params if not getattr(param, "hidden", False)]
        if options:
            block += ["", "| Argument or option | What it does | Default |", "|---|---|---|"]
            for param in options:
                block.append(option_row(param))
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


def walk_commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Leaf commands with their full name path, groups descended in the order they list."""
    # Typer 0.29 ships its own copy of click, so groups are told by what they can do.
    if not hasattr(command, "list_commands"):
        return [(path, command)]
    found: list[tuple[list[str], Any]] = []
    context = command.context_class(command)
    for name in command.list_commands(context):
        found.extend(walk_commands(command.get_command(context, name), [*path, name]))
    return found


def option_row(param: Any) -> str:
    """One table row for a click parameter: its spelling, help and default."""
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name or '').upper()}`"
        help_text = getattr(param, "help", "") or ""
    else:
        name = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        help_text = param.help or ""
    default = param.default
    shown = "" if default in (None, False, "", (), []) or callable(default) else code_cell(default)
    return f"| {name} | {cell(help_text)} | {shown} |"


GENERATORS = {"configuration": configuration_markdown, "commands": commands_markdown}
