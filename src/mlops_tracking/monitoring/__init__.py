"""Monitoring what is served: request figures and data drift, logged back to MLflow.

The comparison itself is pure (``core/drift.py``, ``core/serving_stats.py``); this package is
its MLflow shell: the reference profile a training run carries, the drift a batch or a serving
window shows against it, and the monitoring run a server's request figures are written to.
It sits under ``registry``: serving and predicting call it with plain run ids and versions.
"""
