"""Do scored rows still look like the training split? A reference profile and the comparison.

At training, ``build_profile`` summarises the train split as the model receives rows (raw
columns) with the model's own predictions on it, in a few kilobytes of JSON that the training
run keeps (``monitoring/reference_profile.json``):

* a numeric column (float, integer): ``bins`` quantile bins of the training values and the
  share of rows in each, mean, standard deviation, range, missing share, and 101 quantiles as
  a sketch for a Kolmogorov-Smirnov test;
* a categorical column (text, boolean): the share of each category (the ``MAX_CATEGORIES``
  most frequent; the rest share one bucket) and the missing share;
* the predictions: label shares (classification) or quantile bins (regression).

Date columns are left out: the dates a model scores move on by design.

``compare`` puts a batch (``predict``, ``monitor``) or a serving window against it. Per
feature: the **population stability index** over the reference bins,
``PSI = Σ (actual − expected) · ln(actual / expected)`` (shares floored at ``EPSILON``), the
KS statistic and p-value of the values against the sketch, the mean's shift in training
standard deviations, and for a categorical column the categories never seen at training.
A numeric feature has **drifted** when its PSI reaches ``monitoring.psi_threshold`` (0.25, the
usual "large shift"; 0.1 is a small one) *and* its KS p-value is below ``monitoring.ks_alpha``
(0.01): the PSI says the shift is large, the test that it is not the noise of a small batch. A
categorical feature, and the predictions, drift on the PSI alone. A batch below
``monitoring.min_rows`` is not judged.

Measured on breast_cancer's default splits (455 training rows, 10 bins, 30 features): the
unchanged test split (114 rows) reaches PSI 0.22 at most (median 0.10) and its smallest KS
p-value is 0.38; the validation split 0.23 and 0.11. PSI alone would sit close to the
threshold on unchanged data, which is why the KS test confirms. A copy of the test split with
``mean radius`` moved by 2 standard deviations: PSI 6.2, KS p 2e-32 on it, no other feature
above 0.22. Building the profile takes about 30 ms and a comparison about 35 ms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlops_tracking.core.config import MonitoringConfig

PROFILE_VERSION = 1
PROFILE_ARTIFACT = "monitoring/reference_profile.json"  # on every full training run
EPSILON = 1e-4  # the smallest share a bin counts with (an empty bin would make PSI infinite)
MAX_CATEGORIES = 50
OTHER = "(other)"
MISSING = "(missing)"
SKETCH_POINTS = 101
NUMERIC_KINDS = ("float", "integer")
CATEGORICAL_KINDS = ("text", "boolean")
METRIC_PREFIX = "drift/"
UNSEEN_LISTED = 20  # unseen categories named per feature


def build_profile(
    rows: pd.DataFrame,
    kinds: Mapping[str, str],
    predictions: Sequence[Any],
    bins: int,
    *,
    regression: bool = False,
) -> dict[str, Any]:
    """The reference profile of ``rows`` (raw columns) and the model's ``predictions``."""
    columns = {}
    for column in rows.columns:
        kind = kinds.get(str(column), "float")
        if kind in NUMERIC_KINDS:
            columns[str(column)] = _numeric_profile(rows[column], bins)
        elif kind in CATEGORICAL_KINDS:
            columns[str(column)] = _categorical_profile(rows[column])
    values = pd.Series(list(predictions))
    prediction = (
        _numeric_profile(values, bins) if regression else _categorical_profile(values.astype(str))
    )
    return {
        "version": PROFILE_VERSION,
        "rows": len(rows),
        "bins": bins,
        "columns": columns,
        "prediction": prediction,
    }


def _numeric_profile(series: pd.Series, bins: int) -> dict[str, Any]:
    values = pd.to_numeric(series, errors="coerce").astype(float)
    present = values.dropna().to_numpy()
    if present.size == 0:
        return {"kind": "numeric", "edges": [], "shares": [1.0], "missing": 1.0}
    inner = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    return {
        "kind": "numeric",
        "edges": inner.tolist(),
        "shares": _bin_shares(present, inner).tolist(),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "missing": float(values.isna().mean()),
        "sketch": np.quantile(present, np.linspace(0, 1, SKETCH_POINTS)).tolist(),
    }


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(values.size, 1)


def _categorical_profile(series: pd.Series) -> dict[str, Any]:
    present = series.dropna().astype(str)
    shares = present.value_counts(normalize=True)
    kept = shares.head(MAX_CATEGORIES)
    categories = {str(k): float(v) for k, v in kept.items()}
    rest = float(shares.iloc[MAX_CATEGORIES:].sum())
    return {
        "kind": "categorical",
        "shares": categories,
        "other": rest,
        "missing": float(series.isna().mean()),
    }


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """The population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class FeatureDrift:
    """One column (or the predictions) against its reference."""

    name: str
    kind: str  # numeric or categorical
    psi: float
    drifted: bool
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    mean_shift_std: float | None = None  # (mean now - training mean) / training std
    missing_share: float = 0.0
    unseen: dict[str, int] = field(default_factory=dict)  # categories never seen at training


@dataclass(frozen=True)
class DriftReport:
    """A batch or a window against a training run's reference profile."""

    rows: int
    judged: bool  # False: fewer rows than monitoring.min_rows
    threshold: float
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    absent: list[str] = field(default_factory=list)  # profiled columns the rows lack

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted] if self.judged else []

    @property
    def unseen(self) -> dict[str, dict[str, int]]:
        return {f.name: f.unseen for f in self.features if f.unseen}

    @property
    def verdict(self) -> str:
        if not self.judged:
            return "not judged"
        return "drifted" if self.drifted else "no drift"

    def metrics(self) -> dict[str, float]:
        """MLflow metrics, grouped under ``drift/`` (the UI charts a group together)."""
        figures = {
            f"{METRIC_PREFIX}rows": float(self.rows),
            f"{METRIC_PREFIX}features_drifted": float(len(self.drifted)),
        }
        for feature in self.features:
            figures[f"{METRIC_PREFIX}psi/{metric_name(feature.name)}"] = feature.psi
            if feature.unseen:
                unseen = float(sum(feature.unseen.values()))
                figures[f"{METRIC_PREFIX}unseen_rows/{metric_name(feature.name)}"] = unseen
        if self.prediction is not None:
            figures[f"{METRIC_PREFIX}prediction_psi"] = self.prediction.psi
        if self.features:
            figures[f"{METRIC_PREFIX}max_psi"] = max(f.psi for f in self.features)
        return figures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict, "drifted": self.drifted}

    def summary(self) -> str:
        """One line for a terminal."""
        if not self.judged:
            return f"drift: not judged ({self.rows} rows; fewer than monitoring.min_rows)"
        if not self.drifted:
            top = max(self.features, key=lambda f: f.psi, default=None)
            worst = f"; largest PSI {top.psi:.3f} ({top.name})" if top else ""
            return f"drift: none over {len(self.features)} features{worst}"
        named = ", ".join(
            f"{f.name} (PSI {f.psi:.2f})"
            for f in sorted(self.features, key=lambda f: -f.psi)
            if f.drifted
        )
        return f"drift: {len(self.drifted)} of {len(self.features)} features drifted: {named}"


def metric_name(name: str) -> str:
    """A column name as MLflow takes it in a metric key (letters, digits, ``_-. /``)."""
    return re.sub(r"[^\w\-. ]", "_", name).strip() or "_"


def compare(
    profile: Mapping[str, Any],
    rows: pd.DataFrame,
    predictions: Sequence[Any] | None,
    settings: MonitoringConfig,
) -> DriftReport:
    """``rows`` (raw columns) and their ``predictions`` against a reference ``profile``."""
    from scipy.stats import ks_2samp

    threshold, alpha = settings.psi_threshold, settings.ks_alpha
    features, absent = [], []
    for name, reference in profile["columns"].items():
        if name not in rows.columns:
            absent.append(name)
            continue
        if reference["kind"] == "numeric":
            features.append(
                _numeric_drift(name, reference, rows[name], (threshold, alpha), ks_2samp)
            )
        else:
            features.append(_categorical_drift(name, reference, rows[name], threshold))
    prediction = None
    if predictions is not None and len(predictions) > 0:
        reference = profile["prediction"]
        values = pd.Series(list(predictions))
        if reference["kind"] == "numeric":
            prediction = _numeric_drift(
                "prediction", reference, values, (threshold, alpha), ks_2samp
            )
        else:
            prediction = _categorical_drift("prediction", reference, values.astype(str), threshold)
    return DriftReport(
        rows=len(rows),
        judged=len(rows) >= settings.min_rows,
        threshold=threshold,
        features=features,
        prediction=prediction,
        absent=absent,
    )


def _numeric_drift(
    name: str,
    reference: Mapping[str, Any],
    series: pd.Series,
    rule: tuple[float, float],
    ks: Any,
) -> FeatureDrift:
    threshold, alpha = rule
    values = pd.to_numeric(series, errors="coerce").astype(float)
    present = values.dropna().to_numpy()
    if present.size == 0 or "sketch" not in reference:  # nothing to compare on either side
        return FeatureDrift(name, "numeric", 0.0, False, missing_share=float(values.isna().mean()))
    edges = np.asarray(reference["edges"], dtype=float)
    value = psi(reference["shares"], _bin_shares(present, edges))
    test = ks(np.asarray(reference["sketch"]), present)
    std = reference.get("std") or 0.0
    shift = (float(present.mean()) - reference["mean"]) / std if std > 0 else 0.0
    return FeatureDrift(
        name,
        "numeric",
        round(value, 6),
        value >= threshold and float(test.pvalue) < alpha,
        ks_statistic=round(float(test.statistic), 6),
        ks_pvalue=float(test.pvalue),
        mean_shift_std=round(shift, 4),
        missing_share=float(values.isna().mean()),
    )


def _categorical_drift(
    name: str, reference: Mapping[str, Any], series: pd.Series, threshold: float
) -> FeatureDrift:
    present = series.dropna().astype(str)
    known: dict[str, float] = dict(reference["shares"])
    counts = present.value_counts()
    total = max(len(present), 1)
    actual = [float(counts.get(category, 0)) / total for category in known]
    outside = {str(k): int(v) for k, v in counts.items() if k not in known}
    expected = [*known.values(), reference.get("other", 0.0)]
    actual.append(sum(outside.values()) / total)
    # beyond the kept categories a value may be a rare training one: unseen only when the
    # profile kept every training category
    unseen = outside if reference.get("other", 0.0) == 0.0 else {}
    value = psi(expected, actual)
    listed = dict(sorted(unseen.items(), key=lambda item: -item[1])[:UNSEEN_LISTED])
    return FeatureDrift(
        name,
        "categorical",
        round(value, 6),
        value >= threshold,
        missing_share=float(series.isna().mean()),
        unseen=listed,
    )


def drift_tags(report: DriftReport, run_id: str, checked_at: str) -> dict[str, str]:
    """What the registered version's tags say of its latest drift check."""
    verdict = {"drifted": "true", "no drift": "false"}.get(report.verdict, report.verdict)
    return {
        "monitoring.drift": verdict,
        "monitoring.drift_features": ", ".join(report.drifted)[:5000],
        "monitoring.drift_run_id": run_id,
        "monitoring.drift_checked_at": checked_at,
    }


def shifted_copy(frame: pd.DataFrame, column: str, by_std: float = 2.0) -> pd.DataFrame:
    """``frame`` with one numeric ``column`` moved by ``by_std`` of its standard deviations."""
    shifted = frame.copy()
    values = pd.to_numeric(shifted[column], errors="coerce").astype(float)
    std = float(values.std())
    shifted[column] = values + by_std * (std if math.isfinite(std) and std > 0 else 1.0)
    return shifted
