"""Building blocks of the audit: generic checks on a run's metrics, params, tags, artifacts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mlops_tracking.audit.snapshot import RunSnapshot

# flagged: recorded, but what it records is a warning (a model that does not beat its baseline);
# it never fails the audit on its own, it is shown and counted.
Status = Literal["present", "missing", "n/a", "flagged"]


@dataclass(frozen=True)
class AuditItem:
    section: str
    item: str
    status: Status
    location: str
    required: bool = True

    @property
    def failed(self) -> bool:
        return self.required and self.status == "missing"


Check = Callable[[RunSnapshot], AuditItem]


def found(
    section: str, item: str, hits: Iterable[str], wanted: str, required: bool = True
) -> AuditItem:
    hits = sorted(set(hits))
    if hits:
        shown = ", ".join(hits[:4]) + (f" (+{len(hits) - 4})" if len(hits) > 4 else "")
        return AuditItem(section, item, "present", shown, required)
    return AuditItem(section, item, "missing", f"expected {wanted}", required)


def missing(section: str, item: str, problems: Sequence[str], prefix: str = "") -> AuditItem:
    """A missing item that names its first problem and counts the others."""
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return AuditItem(section, item, "missing", prefix + problems[0] + more)


def not_applicable(section: str, item: str, why: str) -> AuditItem:
    return AuditItem(section, item, "n/a", why, required=False)


def metric(section: str, item: str, pattern: str, when: str = "any") -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        if (when == "classification" and not s.classification) or (
            when == "regression" and s.classification
        ):
            return not_applicable(section, item, f"not a {when} run")
        hits = [
            k
            for k, v in s.metrics.items()
            if re.search(pattern, k) and math.isfinite(v) and not k.startswith("system/")
        ]
        return found(section, item, hits, f"a finite metric matching /{pattern}/")

    return check


def history(section: str, item: str, hint: str, when: str = "any") -> Check:
    """A step-indexed curve for both the training and the validation split."""

    def check(s: RunSnapshot) -> AuditItem:
        if when == "classification" and not s.classification:
            return not_applicable(section, item, "not a classification run")
        curves = {k: n for k, n in s.history_steps.items() if hint in k and n > 1}
        train = [k for k in curves if re.search(r"train", k)]
        val = [k for k in curves if re.search(r"val|valid|eval|test", k)]
        if train and val:
            return AuditItem(
                section,
                item,
                "present",
                ", ".join(f"{k} ({curves[k]} steps)" for k in sorted(train + val)),
            )
        single = [f"{k} ({n} step)" for k, n in s.history_steps.items() if hint in k]
        seen = f"; found only {', '.join(single)}" if single else ""
        return AuditItem(
            section,
            item,
            "missing",
            f"train and validation '{hint}' metrics logged at more than one step{seen}",
        )

    return check


def artifact(section: str, item: str, pattern: str, when: str = "any") -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        if (when == "classification" and not s.classification) or (
            when == "regression" and s.classification
        ):
            return not_applicable(section, item, f"not a {when} run")
        hits = [path for path in s.artifacts if re.search(pattern, path)]
        return found(section, item, hits, f"an artifact matching /{pattern}/")

    return check


def tags(section: str, item: str, *keys: str, any_of: bool = False) -> Check:
    """All of ``keys`` set (or, with ``any_of``, at least one of them)."""

    def check(s: RunSnapshot) -> AuditItem:
        present = [k for k in keys if s.tags.get(k)]
        if present and (any_of or len(present) == len(keys)):
            return AuditItem(
                section, item, "present", ", ".join(f"{k}={s.tags[k][:40]}" for k in present)
            )
        missing = [k for k in keys if k not in present]
        joined = " or ".join(missing) if any_of else ", ".join(missing)
        return AuditItem(section, item, "missing", f"tag(s) {joined}")

    return check


def params(section: str, item: str, prefix: str, minimum: int = 1) -> Check:
    def check(s: RunSnapshot) -> AuditItem:
        hits = [k for k in s.params if k.startswith(prefix)]
        if len(hits) >= minimum:
            return AuditItem(section, item, "present", f"{len(hits)} params {prefix}*")
        return AuditItem(
            section,
            item,
            "missing",
            f"at least {minimum} param(s) named {prefix}* (found {len(hits)})",
        )

    return check
