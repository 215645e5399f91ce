"""How a CSV file is spelled: its separator and decimal mark, sniffed or configured.

European spreadsheets write ``species;bill_length`` and ``39,1``; a tab-separated export is
also common. The first lines decide: the separator is the candidate that splits the header into
the most columns and every sampled row into as many; a file not separated by commas has a
decimal comma when its numbers are written ``39,1`` more often than ``39.1``. ``read_csv``
reads a training table or a batch to predict with the dialect found.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_tracking.core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# data.sep spelling -> separator character, in the order that breaks a tie
SEPARATORS = {",": ",", ";": ";", "tab": "\t", "|": "|"}
SEPARATOR_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "tab",
    "\t": "tab",
    "\\t": "tab",
    "pipe": "|",
}
DECIMALS = (".", ",")
SNIFF_LINES = 200
CONSISTENT_SHARE = 0.9  # rows that must split into as many fields as the header
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d+\.\d+$")


@dataclass(frozen=True)
class CsvDialect:
    """The separator and decimal mark a CSV was read with (``sep`` is the character)."""

    sep: str = ","
    decimal: str = "."

    @property
    def sep_name(self) -> str:
        """The separator as ``data.sep`` spells it (``tab`` for a tab)."""
        return separator_name(self.sep)


def separator_name(character: str) -> str:
    return "tab" if character == "\t" else character


def normalise_separator(value: str) -> str:
    """``data.sep`` in its canonical spelling: ``auto``, ``,``, ``;``, ``tab`` or ``|``."""
    text = value if value == "\t" else value.strip()
    canonical = SEPARATOR_NAMES.get(text.lower(), text)
    if canonical != "auto" and canonical not in SEPARATORS:
        raise ValueError(
            f"data.sep must be auto, ',', ';', tab or '|' (got {value!r}); "
            "null or auto sniffs it from the file"
        )
    return canonical


def read_csv(
    path: Path, hint: str = "Check data.path", dialect: CsvDialect | None = None
) -> pd.DataFrame:
    """Read a CSV file (``dialect`` None: sniffed); a missing or unreadable file is a
    ``DataError`` ending with ``hint``."""
    import pandas as pd

    check_file(path, hint)
    dialect = dialect or resolve_dialect(path)
    try:
        return pd.read_csv(path, sep=dialect.sep, decimal=dialect.decimal)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None


def check_file(path: Path, hint: str) -> None:
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}. {hint} (relative to {Path.cwd()}).")


def resolve_dialect(path: Path, sep: str = "auto", decimal: str = "auto") -> CsvDialect:
    """The configured separator and decimal mark, each sniffed from ``path`` when ``auto``."""
    lines = _first_lines(path)
    character = SEPARATORS[sep] if sep != "auto" else sniff_separator(lines)
    mark = decimal if decimal != "auto" else sniff_decimal(lines, character)
    if mark == character:
        raise DataError(
            f"{path} is separated by {separator_name(character)!r}, which cannot also be the "
            f"decimal mark; set data.decimal=. (or data.sep to the file's separator)."
        )
    return CsvDialect(character, mark)


def sniff_separator(lines: list[str]) -> str:
    """The candidate splitting the header into the most fields, and most rows into as many."""
    best, best_fields = ",", 1
    for character in SEPARATORS.values():
        rows = [row for row in csv.reader(lines, delimiter=character) if row]
        if not rows:
            continue
        fields = len(rows[0])
        consistent = sum(len(row) == fields for row in rows) / len(rows)
        if fields > best_fields and consistent >= CONSISTENT_SHARE:
            best, best_fields = character, fields
    return best


def sniff_decimal(lines: list[str], sep: str) -> str:
    """``,`` when numbers are written with a decimal comma more often than with a point."""
    if sep == ",":
        return "."
    values = [field.strip() for row in csv.reader(lines[1:], delimiter=sep) for field in row]
    commas = sum(bool(_DECIMAL_COMMA.match(value)) for value in values)
    points = sum(bool(_DECIMAL_POINT.match(value)) for value in values)
    return "," if commas > points else "."


def separator_hint(columns: list[str], dialect: CsvDialect) -> str:
    """A sentence for a header that holds another separator (e.g. ``species;island``), or ''."""
    for character in SEPARATORS.values():
        if character != dialect.sep and any(character in column for column in columns):
            return (
                f" The header contains {separator_name(character)!r} but the file was read with "
                f"data.sep={dialect.sep_name!r}: if {separator_name(character)!r} separates "
                f"the columns, set data.sep={separator_name(character)!r} (or auto)."
            )
    return ""


def _first_lines(path: Path) -> list[str]:
    lines: list[str] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line in handle:
            if line.strip():
                lines.append(line)
            if len(lines) >= SNIFF_LINES:
                break
    return lines
