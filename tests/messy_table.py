"""A small CSV with the mess real tables have: identifiers, typos in numbers, flags, text labels.

Shared by the data tests (tests/core) and the end-to-end CLI test (tests/cli).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def messy_csv(path: Path, rows: int = 80) -> Path:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows),  # a counter: an identifier
            "customer id": rng.permutation(rows) + 1000,  # unique, named like an id
            "amount ($)": rng.normal(100, 10, rows).round(2).astype(object),
            "a.b": rng.integers(0, 5, rows),
            "flag": rng.choice([True, False], rows),
            "score": rng.permutation(rows)
            * 3,  # unique integers, neither counter nor id: a feature
            "label": rng.choice(["x", "y"], rows),
        }
    )
    frame.loc[[3, 7], "amount ($)"] = "unknown"  # typos in a numeric column
    frame.to_csv(path, index=False)
    return path
