"""Which data a final metric was computed on, and so what it is linked to in the store.

MLflow 3 links a metric to a LoggedModel and to the dataset it was computed on; the model page
and the Models tab show the dataset next to the value. The rule, by the metric's name:

* ``validation_*`` was computed on the validation split, ``test_*`` on the test split and
  ``train_*`` on the training split (a ``baseline_`` or ``best_`` qualifier in front keeps the
  split: ``baseline_test_log_loss``);
* any other final metric (fit time, latency, ONNX parity, sizes, counts) is a measurement of the
  run: linked to the model, to no dataset;
* ``system/*`` metrics (CPU, memory, disk, network) describe the machine: linked to no model.
"""

from __future__ import annotations

# The first word of a metric's name that names a split (MLflow's autolog says "training").
SPLIT_WORDS = {"train": "train", "training": "train", "validation": "validation", "test": "test"}
EVALUATION_SPLITS = ("validation", "test")
QUALIFIERS = ("baseline", "best")
SYSTEM_PREFIX = "system/"


def metric_split(key: str) -> str | None:
    """The split ``key`` was computed on (``train``, ``validation`` or ``test``), or None."""
    words = key.split("_")
    if len(words) > 2 and words[0] in QUALIFIERS:
        words = words[1:]
    return SPLIT_WORDS.get(words[0]) if len(words) > 1 else None


def is_system_metric(key: str) -> bool:
    """A metric MLflow's system monitor logs about the machine, not about a model."""
    return key.startswith(SYSTEM_PREFIX)


def links_to_model(key: str) -> bool:
    """Whether a final metric named ``key`` belongs on the run's LoggedModels."""
    return not is_system_metric(key)
