"""Batch inference with a registered version: check the rows, predict, write, log the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_tracking.registry import catalog
from mlops_tracking.registry.catalog import RegistryError, VersionRef


@dataclass(frozen=True)
class BatchPrediction:
    ref: VersionRef
    rows: int
    output: Path
    run_id: str
    seconds: float


def batch_predict(
    reference: str, input_path: Path, output_path: Path | None, engine: str, by: str
) -> BatchPrediction:
    """Check ``input_path`` against the signature, predict, write a CSV, log an inference run."""
    import time

    from mlops_tracking.core.rows import check_rows, read_rows
    from mlops_tracking.registry.inference_runs import log_inference, predict_rows, signature_of

    if engine not in {"pyfunc", "onnx"}:
        raise RegistryError(f"--engine must be pyfunc or onnx, not '{engine}'")
    ref = catalog.resolve(reference)
    signature = signature_of(ref)
    rows = check_rows(read_rows(input_path), signature.columns, str(input_path))
    start = time.perf_counter()
    outputs = predict_rows(ref, rows, signature, engine)
    seconds = time.perf_counter() - start
    output = output_path or input_path.with_name(f"{input_path.stem}.predictions.csv")
    outputs.index = rows.index
    outputs.to_csv(output, index=False)
    run_id = log_inference(
        ref,
        rows,
        outputs,
        input_path=input_path,
        output_path=output,
        engine=engine,
        seconds=seconds,
        tags={"author": by},
    )
    return BatchPrediction(ref, len(rows), output, run_id, seconds)
