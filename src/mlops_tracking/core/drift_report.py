"""A drift report as one self-contained HTML page (no scripts, no external files).

The page leads with the verdict and what was compared (the version, its training run, the
rows), then one table row per feature, drifted first: kind, PSI with a bar against the
threshold, KS p-value, the mean's shift in training standard deviations, missing share and
categories never seen at training; then the predictions' shift. Every name from the data is
escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from mlops_tracking.core.drift import DriftReport, FeatureDrift

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1f2328}
h1{font-size:1.5rem;margin-bottom:.2rem} .about{color:#57606a;margin-top:0}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:1rem;font-weight:600}
.drifted{background:#ffebe9;color:#a40e26} .steady{background:#dafbe1;color:#116329}
.unjudged{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eaeef2;width:10rem;height:.7rem;border-radius:.2rem;position:relative}
.bar span{display:block;height:100%;border-radius:.2rem;background:#0969da}
.bar span.over{background:#cf222e} .bar i{position:absolute;top:-.2rem;bottom:-.2rem;
border-left:2px dashed #57606a}
tr.hit td{background:#fff5f5}
"""
BAR_SCALE = 4.0  # a bar's full width is this many thresholds


def drift_page(report: DriftReport, title: str, about: Mapping[str, str]) -> str:
    """The page for ``report``; ``about`` names what was compared (shown as given)."""
    css = {"drifted": "drifted", "no drift": "steady"}.get(report.verdict, "unjudged")
    facts = " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in about.items())
    ordered = sorted(report.features, key=lambda f: (not f.drifted, -f.psi))
    rows = "\n".join(_row(feature, report.threshold) for feature in ordered)
    prediction = (
        _prediction(report.prediction, report.threshold) if report.prediction is not None else ""
    )
    absent = (
        f"<p>Columns of the profile these rows lack: {html.escape(', '.join(report.absent))}</p>"
        if report.absent
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="about">{facts}</p>
<p><span class="verdict {css}">{html.escape(report.verdict)}</span>
 {html.escape(report.summary())}</p>
<p>{report.rows} rows against the training split's profile. A numeric feature has drifted when
its PSI reaches {report.threshold:g} and its KS p-value is small; a categorical one on its PSI
(the dashed line marks the threshold).</p>
<table><thead><tr><th>feature</th><th>kind</th><th>PSI</th><th></th><th>KS p</th>
<th>mean shift (sd)</th><th>missing</th><th>unseen categories</th><th>drifted</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{absent}
{prediction}
</body></html>
"""


def _bar(value: float, threshold: float) -> str:
    width = min(value / (threshold * BAR_SCALE), 1.0) * 100
    over = " over" if value >= threshold else ""
    mark = 100 / BAR_SCALE
    return (
        f'<div class="bar"><span class="{over.strip()}" style="width:{width:.1f}%"></span>'
        f'<i style="left:{mark:.1f}%"></i></div>'
    )


def _number(value: float | None, digits: str = ".3f") -> str:
    return "-" if value is None else format(value, digits)


def _row(feature: FeatureDrift, threshold: float) -> str:
    unseen = ", ".join(f"{html.escape(k)} ({v})" for k, v in feature.unseen.items()) or "-"
    return (
        f'<tr class="{"hit" if feature.drifted else ""}">'
        f"<td>{html.escape(feature.name)}</td><td>{feature.kind}</td>"
        f'<td class="n">{feature.psi:.3f}</td><td>{_bar(feature.psi, threshold)}</td>'
        f'<td class="n">{_number(feature.ks_pvalue, ".2g")}</td>'
        f'<td class="n">{_number(feature.mean_shift_std, "+.2f")}</td>'
        f'<td class="n">{feature.missing_share:.1%}</td><td>{unseen}</td>'
        f"<td>{'yes' if feature.drifted else 'no'}</td></tr>"
    )


def _prediction(prediction: FeatureDrift, threshold: float) -> str:
    state = "shifted" if prediction.drifted else "steady"
    return (
        f"<h2>Predictions</h2><p>PSI {prediction.psi:.3f} against the training split's "
        f"predictions: {state}.</p>{_bar(prediction.psi, threshold)}"
    )
