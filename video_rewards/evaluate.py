"""Evaluation metrics from a predictions file, parsed exactly as the training reward parses them.

``python -m video_rewards.evaluate --predictions P.jsonl --output metrics.json``

Each line of ``P.jsonl`` is ``{"response": str, "ground_truth": {...} | str, "data_source": str?}``
(``extra_info.duration`` fills in a ground truth without a duration, as in training; other keys are
ignored). Rows are grouped by ``data_source`` (the task name when it is absent) and each
group gets the standard metrics of its task family, in percent, plus ``count``:

============================  =====================================================================
grounding (``tvg``,           ``R1@0.3``, ``R1@0.5``, ``R1@0.7`` (share of rows with IoU ≥ threshold),
``multi_tvg``)                ``mIoU``
choice (``mcq``, ``numeric``) ``accuracy``
grounded QA (``gqa``)         ``accuracy``, ``mIoU``, ``mIoP``, ``IoU@0.3``, ``IoU@0.5``, ``IoP@0.3``,
                              ``IoP@0.5``, ``Acc@GQA`` (right answer *and* IoP ≥ 0.5)
============================  =====================================================================

Thresholds are inclusive. IoU is the reward's raw temporal IoU (the prediction clipped to the video);
IoP is the intersection over the length of that clipped prediction. An unparsable answer counts as wrong
with IoU = IoP = 0. For ``multi_tvg`` the IoU is the reward's matched-segment score. A data source whose
rows mix task families is an error (give each family its own ``data_source``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import video_rewards as vr

__all__ = ["METRIC_KEYS", "Prediction", "evaluate_predictions", "main", "read_predictions", "task_family"]

logger = logging.getLogger(__name__)

#: Every metric name this module can write, in the order it writes them.
METRIC_KEYS: Final = (
    "R1@0.3",
    "R1@0.5",
    "R1@0.7",
    "mIoU",
    "accuracy",
    "mIoP",
    "IoU@0.3",
    "IoU@0.5",
    "IoP@0.3",
    "IoP@0.5",
    "Acc@GQA",
    "count",
)

_FAMILIES: Final = {
    "tvg": "grounding",
    "multi_tvg": "grounding",
    "mcq": "choice",
    "numeric": "choice",
    "gqa": "gqa",
}
# Threshold comparisons forgive float noise: (5.3 - 2.3) / 10 is 0.29999999999999993, and must count
# as IoU ≥ 0.3 like the 0.3 a person computes by hand.
_EPS: Final = 1e-9


def task_family(task: str) -> str:
    """The metric family of a task: ``"grounding"``, ``"choice"`` or ``"gqa"``.

    >>> task_family("tvg"), task_family("mcq"), task_family("gqa")
    ('grounding', 'choice', 'gqa')
    """
    try:
        return _FAMILIES[task]
    except KeyError:
        raise ValueError(
            f"no evaluation metrics are defined for task {task!r}; known: {', '.join(sorted(_FAMILIES))}"
        ) from None


@dataclass(frozen=True)
class Prediction:
    """One validated row of a predictions file (``line`` is 1-based, for error messages)."""

    line: int
    response: str
    ground_truth: vr.GroundTruth
    data_source: str


@dataclass(frozen=True)
class _RowMetrics:
    accuracy: float | None
    iou: float | None
    iop: float | None


def _parse_row(text: str, line: int) -> Prediction:
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"line {line}: not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {line}: a row must be a JSON object, got {type(row).__name__}")
    response = row.get("response")
    if not isinstance(response, str):
        raise ValueError(f"line {line}: 'response' must be a string, got {type(response).__name__}")
    if "ground_truth" not in row:
        raise ValueError(f"line {line}: 'ground_truth' is missing")
    source = row.get("data_source")
    if source is not None and (not isinstance(source, str) or not source):
        raise ValueError(f"line {line}: 'data_source' must be a non-empty string, got {source!r}")
    extra_info = row.get("extra_info")
    duration = extra_info.get("duration") if isinstance(extra_info, dict) else None
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float)):
        raise ValueError(f"line {line}: 'extra_info.duration' must be a number, got {duration!r}")
    try:
        # As in training (verl's extra_info), the row's duration fills in a ground truth without one.
        truth = vr.parse_ground_truth(row["ground_truth"], data_source=source, duration=duration)
    except ValueError as exc:
        raise ValueError(f"line {line}: {exc}") from None
    task_family(truth.task)  # fail on the row, not later in a group
    return Prediction(line=line, response=response, ground_truth=truth, data_source=source or truth.task)


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read and validate a predictions JSONL file; a bad row raises ``ValueError`` naming its line.

    Blank lines are skipped.
    """
    rows: list[Prediction] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if text.strip():
                rows.append(_parse_row(text, line_no))
    if not rows:
        raise ValueError(f"{path}: no predictions (the file is empty)")
    return rows


def _answer_text(response: str, config: vr.RewardConfig) -> str | None:
    """The answer text the reward scored (same rules as :func:`video_rewards.score`)."""
    answer = vr.parse_answer_block(response)
    if answer is None and not config.require_answer_tag:
        answer = response.strip()
    return answer


def _predicted_span(response: str, truth: vr.GroundTruth, config: vr.RewardConfig) -> vr.Span | None:
    """The clipped predicted span of a tvg / gqa answer, read with the reward's own parsers."""
    answer = _answer_text(response, config)
    if answer is None:
        return None
    span = vr.parse_grounded_answer(answer).span if truth.task == "gqa" else vr.parse_span(answer)
    if span is None:
        return None
    return span.clip(getattr(truth, "duration", None))


def _row_metrics(row: Prediction, accuracy: float, iou: float, config: vr.RewardConfig) -> _RowMetrics:
    acc = None if math.isnan(accuracy) else accuracy
    if math.isnan(iou):
        return _RowMetrics(acc, None, None)
    if row.ground_truth.task not in ("tvg", "gqa"):
        return _RowMetrics(acc, iou, None)
    if iou == 0.0:
        # IoU is 0 exactly when the clipped prediction misses the truth (or nothing parsed): IoP is 0 too.
        return _RowMetrics(acc, 0.0, 0.0)
    span = _predicted_span(row.response, row.ground_truth, config)
    gold = row.ground_truth.segment  # type: ignore[attr-defined]  # tvg and gqa truths both have one
    if span is None or vr.temporal_iou(span, gold) != iou:
        # The reward found a span here; a different one means this module drifted from the reward.
        raise RuntimeError(
            f"line {row.line}: evaluation read span {span} but the reward scored IoU {iou}; "
            "video_rewards.evaluate is out of sync with the reward's parsing"
        )
    return _RowMetrics(acc, iou, vr.temporal_iop(span, gold))


def _percent(values: Iterable[bool | float], count: int) -> float:
    return 100.0 * float(sum(values)) / count


def _group_metrics(family: str, rows: Sequence[_RowMetrics]) -> dict[str, float]:
    n = len(rows)
    out: dict[str, float] = {}
    ious = [r.iou or 0.0 for r in rows]
    if family == "grounding":
        for t in (0.3, 0.5, 0.7):
            out[f"R1@{t}"] = _percent((v >= t - _EPS for v in ious), n)
        out["mIoU"] = _percent(ious, n)
    elif family == "choice":
        out["accuracy"] = _percent((r.accuracy or 0.0 for r in rows), n)
    else:
        iops = [r.iop or 0.0 for r in rows]
        correct = [r.accuracy == 1.0 for r in rows]
        out["accuracy"] = _percent(correct, n)
        out["mIoU"] = _percent(ious, n)
        out["mIoP"] = _percent(iops, n)
        for t in (0.3, 0.5):
            out[f"IoU@{t}"] = _percent((v >= t - _EPS for v in ious), n)
        for t in (0.3, 0.5):
            out[f"IoP@{t}"] = _percent((v >= t - _EPS for v in iops), n)
        out["Acc@GQA"] = _percent((c and p >= 0.5 - _EPS for c, p in zip(correct, iops, strict=True)), n)
    out["count"] = n
    return {key: out[key] for key in METRIC_KEYS if key in out}


def evaluate_predictions(
    predictions: Sequence[Prediction], *, config: vr.RewardConfig | None = None
) -> dict[str, dict[str, float]]:
    """``{data_source: {metric: value}}`` (percent; ``count`` is a row count), sources sorted by name.

    >>> rows = [Prediction(1, "<think></think><answer>2 to 6</answer>",
    ...                    vr.parse_ground_truth({"task": "tvg", "segment": [2, 10]}), "charades")]
    >>> evaluate_predictions(rows)  # IoU 0.5: inclusive thresholds count it for R1@0.5
    {'charades': {'R1@0.3': 100.0, 'R1@0.5': 100.0, 'R1@0.7': 0.0, 'mIoU': 50.0, 'count': 1}}
    """
    if not predictions:
        raise ValueError("no predictions to evaluate")
    cfg = config or vr.RewardConfig()
    columns = vr.score_batch(
        [p.response for p in predictions], [p.ground_truth for p in predictions], config=cfg
    )
    groups: dict[str, list[_RowMetrics]] = {}
    families: dict[str, tuple[str, Prediction]] = {}
    for i, row in enumerate(predictions):
        family = task_family(row.ground_truth.task)
        first = families.setdefault(row.data_source, (family, row))
        if first[0] != family:
            raise ValueError(
                f"data source {row.data_source!r} mixes task families: line {first[1].line} is "
                f"{first[1].ground_truth.task!r} ({first[0]}), line {row.line} is {row.ground_truth.task!r} "
                f"({family}); give them different data_source values"
            )
        metrics = _row_metrics(row, float(columns["accuracy"][i]), float(columns["iou"][i]), cfg)
        groups.setdefault(row.data_source, []).append(metrics)
    return {source: _group_metrics(families[source][0], groups[source]) for source in sorted(groups)}


def format_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table of the metrics (one row per data source), for the terminal.

    >>> print(format_table({"nextqa": {"accuracy": 50.0, "count": 2}}))
    data_source  accuracy  count
    nextqa           50.0      2
    """
    keys = [k for k in METRIC_KEYS if any(k in m for m in metrics.values())]
    header = ["data_source", *keys]
    body = [
        [source] + ["-" if k not in m else (str(int(m[k])) if k == "count" else f"{m[k]:.1f}") for k in keys]
        for source, m in metrics.items()
    ]
    widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
    lines = []
    for r in [header, *body]:
        cells = [r[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m video_rewards.evaluate",
        description="Standard grounding / QA metrics per data source from a predictions JSONL file.",
    )
    parser.add_argument(
        "--predictions", required=True, type=Path, help="JSONL: response, ground_truth, data_source?"
    )
    parser.add_argument("--output", type=Path, help="write {data_source: {metric: value}} JSON here")
    parser.add_argument(
        "--reward-kwargs",
        default="{}",
        help="JSON object of RewardConfig overrides used in training (e.g. '{\"require_answer_tag\": false}')",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns 2 (with the bad line named on stderr) for invalid input."""
    args = _parse_args(argv)
    try:
        kwargs = json.loads(args.reward_kwargs)
        if not isinstance(kwargs, dict):
            raise ValueError("--reward-kwargs must be a JSON object")
        config = vr.RewardConfig.from_kwargs(**kwargs)
        metrics = evaluate_predictions(read_predictions(args.predictions), config=config)
    except (OSError, ValueError) as exc:
        sys.stderr.write(
            f"error: {args.predictions}: {exc}\n" if not isinstance(exc, OSError) else f"error: {exc}\n"
        )
        return 2
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(format_table(metrics) + "\n")
    if args.output is not None:
        sys.stdout.write(f"metrics written to {args.output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
