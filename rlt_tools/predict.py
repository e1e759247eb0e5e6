"""Greedy predictions of a checkpoint on a converted dataset, in the format ``video_rewards.evaluate`` reads.

    python -m rlt_tools.predict --dataset data/charades_sta_test.parquet --model CKPT --engine vllm \\
        --output predictions.jsonl
    python -m video_rewards.evaluate --predictions predictions.jsonl --output metrics.json

Generation is selection's rollout run (:func:`selection.rollout.run_rollout`) with one greedy completion per
sample: the same engines (``hf``, ``vllm``), the same prompt and video preparation as verl's training
(``selection.prompts``), and the same resumable shards — rerunning an interrupted command continues it.
The shards go to ``<output>.rollouts/``; the JSONL then joins each completion with its dataset row:

``{"index", "uid", "data_source", "ground_truth", "response", "error"}``

A sample the engine could not run (missing or undecodable video) is kept with ``response: ""`` and its
``error``: it scores 0 in the metrics instead of disappearing from them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

__all__ = ["PredictConfig", "predict", "rollouts_dir"]


class PredictConfig(BaseModel):
    """One prediction run (validated from the command line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path
    model: str
    output: Path
    engine: Literal["hf", "vllm"] = "vllm"
    max_tokens: int = Field(default=2048, ge=1)
    engine_options: dict[str, Any] = Field(default_factory=dict)
    shard_size: int = Field(default=64, ge=1)
    limit: int | None = Field(default=None, ge=1)
    progress: bool = True


def rollouts_dir(output: Path) -> Path:
    """Where the greedy rollout shards of ``output`` live.

    >>> rollouts_dir(Path("eval/predictions.jsonl")).as_posix()
    'eval/predictions.jsonl.rollouts'
    """
    return output.with_name(output.name + ".rollouts")


def predict(config: PredictConfig) -> dict[str, int]:
    """Run greedy generation (resumable) and write the predictions JSONL; returns row and failure counts."""
    import pyarrow.parquet as pq

    from selection.dataset import read_sample_ids, require_columns
    from selection.engines import SamplingConfig
    from selection.io import open_rollouts
    from selection.rollout import RolloutConfig, run_rollout

    schema = pq.ParquetFile(config.dataset).schema_arrow
    require_columns(schema.names, ("prompt", "reward_model"), "dataset", config.dataset)
    rollout = RolloutConfig(
        dataset=config.dataset,
        model=config.model,
        output=rollouts_dir(config.output),
        engine=config.engine,
        sampling=SamplingConfig(n=1, temperature=0.0, max_tokens=config.max_tokens),
        shard_size=config.shard_size,
        limit=config.limit,
        engine_options=config.engine_options,
        progress=config.progress,
    )
    run_rollout(rollout)

    completions: dict[int, dict[str, Any]] = {}
    for batch in open_rollouts(rollout.output).batches(4096):
        for row in batch.to_pylist():
            completions[int(row["sample_id"])] = row
    columns = [c for c in ("data_source", "reward_model", "extra_info") if c in schema.names]
    table = pq.read_table(config.dataset, columns=columns)
    ids = read_sample_ids(config.dataset)
    rows = table.to_pylist()
    if config.limit is not None:
        rows, ids = rows[: config.limit], ids[: config.limit]

    counts = {"rows": 0, "failed": 0}
    config.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = config.output.with_name(config.output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for sample_id, row in zip(ids.tolist(), rows, strict=True):
            done = completions.get(sample_id)
            if done is None:
                raise RuntimeError(
                    f"{rollout.output}: no rollout for sample {sample_id} after the run finished"
                )
            extra = row.get("extra_info") or {}
            error = done.get("error")
            counts["rows"] += 1
            counts["failed"] += error is not None
            record = {
                "index": sample_id,
                "uid": extra.get("uid"),
                "data_source": row.get("data_source"),
                "ground_truth": (row.get("reward_model") or {}).get("ground_truth"),
                "response": done.get("response") or "",
                "error": error,
            }
            fh.write(json.dumps(record) + "\n")
    tmp.replace(config.output)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlt_tools.predict",
        description="Greedy predictions of a checkpoint on a converted dataset (input of video_rewards.evaluate).",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="a parquet written by recipes/data/*.py")
    parser.add_argument("--model", required=True, help="checkpoint directory (Hugging Face format)")
    parser.add_argument("--engine", choices=["hf", "vllm"], default="vllm")
    parser.add_argument("--output", type=Path, required=True, help="predictions JSONL")
    parser.add_argument("--max-tokens", type=int, default=2048, help="response budget (match training)")
    parser.add_argument(
        "--engine-options",
        default="{}",
        help="JSON keyword arguments for the engine, e.g. '{\"tensor_parallel_size\": 2}'",
    )
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--limit", type=int, help="only the first N rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        options = json.loads(args.engine_options)
        if not isinstance(options, dict):
            raise ValueError("--engine-options must be a JSON object")
        config = PredictConfig(
            dataset=args.dataset,
            model=args.model,
            output=args.output,
            engine=args.engine,
            max_tokens=args.max_tokens,
            engine_options=options,
            shard_size=args.shard_size,
            limit=args.limit,
            progress=sys.stderr.isatty(),
        )
        counts = predict(config)
    except (OSError, ValueError) as err:
        logger.error("error: %s", err)
        return 2
    logger.info(
        'wrote %s: %d predictions, %d failed samples (response "")',
        args.output,
        counts["rows"],
        counts["failed"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
