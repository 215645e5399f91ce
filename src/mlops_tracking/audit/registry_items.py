"""The audit's §9 items: is the run's model registered, where in its lifecycle, is it served.

A run that was never registered shows these as n/a: registering is a decision, not a duty.
Once registered, the version must carry its lifecycle; deployment status appears once served.
"""

from __future__ import annotations

from mlops_tracking.audit.rules import AuditItem, Check, not_applicable
from mlops_tracking.audit.snapshot import RegisteredVersion, RunSnapshot

SECTION = "9 Model registry"
_UNREGISTERED = "not registered (mlops-tracking register RUN_ID)"


def _deployable(s: RunSnapshot) -> list[RegisteredVersion]:
    """The run's registered deployable versions (the ONNX twins are listed with them)."""
    return [v for v in s.versions if v.tags.get("format") != "onnx"] or s.versions


def registered_version(s: RunSnapshot) -> AuditItem:
    item = "Registered model version"
    if not s.versions:
        return not_applicable(SECTION, item, _UNREGISTERED)
    shown = ", ".join(f"{v.name} v{v.version}" for v in s.versions)
    return AuditItem(SECTION, item, "present", shown)


def lifecycle_alias(s: RunSnapshot) -> AuditItem:
    item = "Lifecycle alias (staging/production)"
    if not s.versions:
        return not_applicable(SECTION, item, _UNREGISTERED)
    described = []
    for version in _deployable(s):
        aliases = ", ".join(f"@{alias}" for alias in version.aliases) or "no alias"
        if "lifecycle" in version.tags:
            described.append(f"v{version.version} {aliases}, lifecycle={version.tags['lifecycle']}")
    if described:
        return AuditItem(SECTION, item, "present", "; ".join(described))
    return AuditItem(SECTION, item, "missing", "a `lifecycle` tag on the registered version")


def deployment_status(s: RunSnapshot) -> AuditItem:
    item = "Deployment status"
    if not s.versions:
        return not_applicable(SECTION, item, _UNREGISTERED)
    statuses = [
        f"v{v.version} {v.tags['deployment.status']}"
        + (f" at {v.tags['deployment.endpoint']}" if v.tags.get("deployment.endpoint") else "")
        for v in _deployable(s)
        if v.tags.get("deployment.status")
    ]
    if statuses:
        return AuditItem(SECTION, item, "present", "; ".join(statuses))
    return not_applicable(SECTION, item, "never served (mlops-tracking serve NAME@ALIAS)")


REGISTRY_CHECKS: list[Check] = [registered_version, lifecycle_alias, deployment_status]
