"""Evaluation metrics from a predictions file, with the published protocols' definitions.

``python -m video_rewards.evaluate --predictions P.jsonl --output metrics.json [--clip-to-duration]``

Each line of ``P.jsonl`` is ``{"response": str, "ground_truth": {...} | str, "data_source": str?}``
(``extra_info.duration`` fills in a ground truth without a duration, as in training; other keys are
ignored). Responses are read exactly as the training reward reads them (same parsers, same
``--reward-kwargs``). Rows are grouped by ``data_source`` (the task name when it is absent) and each group
gets the metrics of its task family, in percent, plus ``count`` (n, every row) and ``unparsed``:

============================  =====================================================================
grounding (``tvg``,           ``R1@0.3``, ``R1@0.5``, ``R1@0.7`` (share of rows with IoU ≥ threshold),
``multi_tvg``)                ``mIoU``
choice (``mcq``, ``numeric``) ``accuracy``
grounded QA (``gqa``)         ``accuracy``, ``mIoU``, ``mIoP``, ``IoU@0.3``, ``IoU@0.5``, ``IoP@0.3``,
                              ``IoP@0.5``, ``Acc@GQA`` (right answer *and* IoP ≥ 0.5)
============================  =====================================================================

By default the definitions are those of the official evaluation code (NExT-GQA
``code/TempGQA/eval_ground.py``; the Charades-STA / ActivityNet scripts of lmms-eval
``tasks/charades_sta/eval_tvg.py`` and TimeZero ``evaluate.py``):

* the predicted span and the gold moments are used as written: nothing is clipped to the video;
* with several gold moments a row's IoU is the max IoU over them and its IoP the max IoP;
* IoU = intersection / union, IoP = intersection / prediction length (0 when they do not overlap);
  a zero-length prediction (a point) has IoU 0 and IoP 1 when it lies inside a gold moment, bounds
  included;
* thresholds compare exactly (``>=``, no tolerance), as the official code does;
* a row whose answer cannot be read, or whose span is reversed or not finite, counts 0 (and wrong) and
  stays in the denominator; ``unparsed`` counts those rows (for ``mcq``/``numeric``/``multi_tvg``: the
  rows the reward reported a parse failure for).

``--clip-to-duration`` gives the reward's numbers instead: IoU is the reward's (prediction and gold
clipped to ``[0, duration]``, a span outside the video scores 0), IoP is that of the clipped spans.
``multi_tvg`` has no published protocol: its IoU is the reward's matched-segment score in both modes.
A data source whose rows mix task families is an error (give each family its own ``data_source``).
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
from video_rewards.scoring import _outcome
from video_rewards.tasks import TaskOutcome

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
    "unparsed",
)

_FAMILIES: Final = {
    "tvg": "grounding",
    "multi_tvg": "grounding",
    "mcq": "choice",
    "numeric": "choice",
    "gqa": "gqa",
}
_COUNTS: Final = ("count", "unparsed")


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
    unparsed: bool


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


@dataclass(frozen=True)
class InvalidRow:
    """A row of a predictions file that could not be evaluated (bad JSON, bad ground truth, …)."""

    line: int
    error: str


def read_predictions(path: str | Path, *, invalid: list[InvalidRow] | None = None) -> list[Prediction]:
    """Read and validate a predictions JSONL file. Blank lines are skipped.

    A bad row raises ``ValueError`` naming its line, unless ``invalid`` is given: then the row is
    appended to it and reading goes on (one bad row must not cost a whole evaluation).
    """
    rows: list[Prediction] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                rows.append(_parse_row(text, line_no))
            except ValueError as exc:
                if invalid is None:
                    raise
                invalid.append(InvalidRow(line_no, str(exc)))
    if not rows:
        reason = f"all {len(invalid)} rows are invalid" if invalid else "the file is empty"
        raise ValueError(f"{path}: no predictions ({reason})")
    return rows


def _ordered(span: vr.Span) -> bool:
    return math.isfinite(span.start) and math.isfinite(span.end) and span.start <= span.end


def _clipped(span: vr.Span, duration: float | None) -> vr.Span | None:
    """The prediction clipped to ``[0, duration]`` as the reward clips it; ``None`` if it lies outside
    the video (the reward scores such a span 0)."""
    hi = math.inf if duration is None else duration
    s, e = span
    inside = (s < e and e > 0.0 and s < hi) or (s == e and 0.0 <= s <= hi)
    return span.clip(duration) if inside else None


def _span_metrics(
    outcome: TaskOutcome, truth: vr.GroundingTruth | vr.GroundedQATruth, clip: bool
) -> tuple[float, float]:
    """``(iou, iop)`` of a tvg / gqa row: the max over the gold moments."""
    span = outcome.span
    if span is None or not _ordered(span):
        return 0.0, 0.0
    if clip:
        pred = _clipped(span, truth.duration)
        iop = 0.0 if pred is None else max(vr.temporal_iop(pred, g) for g in truth.reward_segments)
        return outcome.iou or 0.0, iop
    iou = max(vr.temporal_iou(span, g) for g in truth.segments)
    return iou, max(vr.temporal_iop(span, g) for g in truth.segments)


def _row_metrics(row: Prediction, config: vr.RewardConfig, clip: bool) -> _RowMetrics:
    truth = row.ground_truth
    spec = vr.get_task(truth.task)
    # The reward's own reading of the response (answer block, lenient mode, parsers): evaluation can
    # never read a different answer than training scored.
    _, outcome = _outcome(row.response, spec, truth, config)
    if isinstance(truth, vr.GroundingTruth | vr.GroundedQATruth):
        iou, iop = _span_metrics(outcome, truth, clip)
        span = outcome.span
        unparsed = span is None or not _ordered(span)
        if isinstance(truth, vr.GroundedQATruth):
            # The gqa prediction is "<letter> @ <span>", "?" where no option was read.
            unparsed = unparsed or outcome.prediction is None or outcome.prediction.startswith("?")
            return _RowMetrics(outcome.accuracy, iou, iop, unparsed)
        return _RowMetrics(None, iou, None, unparsed)
    return _RowMetrics(outcome.accuracy, outcome.iou, None, outcome.failure is not None)


def _percent(values: Iterable[bool | float], count: int) -> float:
    return 100.0 * float(sum(values)) / count


def _group_metrics(family: str, rows: Sequence[_RowMetrics]) -> dict[str, float]:
    n = len(rows)
    out: dict[str, float] = {}
    ious = [r.iou or 0.0 for r in rows]
    # Thresholds compare exactly, as the official code does: [1.1, 4.1] in [0, 10] has IoU
    # 0.29999999999999993 in floats and is not counted at 0.3 there either.
    if family == "grounding":
        for t in (0.3, 0.5, 0.7):
            out[f"R1@{t}"] = _percent((v >= t for v in ious), n)
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
            out[f"IoU@{t}"] = _percent((v >= t for v in ious), n)
        for t in (0.3, 0.5):
            out[f"IoP@{t}"] = _percent((v >= t for v in iops), n)
        out["Acc@GQA"] = _percent((c and p >= 0.5 for c, p in zip(correct, iops, strict=True)), n)
    out["count"] = n
    out["unparsed"] = sum(r.unparsed for r in rows)
    return {key: out[key] for key in METRIC_KEYS if key in out}


def evaluate_predictions(
    predictions: Sequence[Prediction],
    *,
    config: vr.RewardConfig | None = None,
    clip_to_duration: bool = False,
) -> dict[str, dict[str, float]]:
    """``{data_source: {metric: value}}`` (percent; ``count`` and ``unparsed`` are row counts), sources
    sorted by name. ``clip_to_duration`` gives the reward's clipped numbers instead of the official ones.

    >>> rows = [Prediction(1, "<think></think><answer>2 to 6</answer>",
    ...                    vr.parse_ground_truth({"task": "tvg", "segment": [2, 10]}), "charades")]
    >>> evaluate_predictions(rows)  # IoU 0.5: R1@0.5 counts it (>=)
    {'charades': {'R1@0.3': 100.0, 'R1@0.5': 100.0, 'R1@0.7': 0.0, 'mIoU': 50.0, 'count': 1, 'unparsed': 0}}
    """
    if not predictions:
        raise ValueError("no predictions to evaluate")
    cfg = config or vr.RewardConfig()
    groups: dict[str, list[_RowMetrics]] = {}
    families: dict[str, tuple[str, Prediction]] = {}
    for row in predictions:
        family = task_family(row.ground_truth.task)
        first = families.setdefault(row.data_source, (family, row))
        if first[0] != family:
            raise ValueError(
                f"data source {row.data_source!r} mixes task families: line {first[1].line} is "
                f"{first[1].ground_truth.task!r} ({first[0]}), line {row.line} is {row.ground_truth.task!r} "
                f"({family}); give them different data_source values"
            )
        try:
            metrics = _row_metrics(row, cfg, clip_to_duration)
        except Exception:
            # The reward never raises on a response; if a bug makes it, one row must not cost the whole
            # evaluation: it counts 0 (and unparsed), and the log names it.
            logger.exception("line %d: scoring the response raised; counted as unparsed", row.line)
            metrics = _RowMetrics(0.0, 0.0, 0.0, True)
        groups.setdefault(row.data_source, []).append(metrics)
    return {source: _group_metrics(families[source][0], groups[source]) for source in sorted(groups)}


def format_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """A plain-text table of the metrics (one row per data source), for the terminal.

    >>> print(format_table({"nextqa": {"accuracy": 50.0, "count": 2, "unparsed": 1}}))
    data_source  accuracy  count  unparsed
    nextqa          50.00      2         1
    """
    keys = [k for k in METRIC_KEYS if any(k in m for m in metrics.values())]
    header = ["data_source", *keys]
    body = [
        [source] + ["-" if k not in m else (str(int(m[k])) if k in _COUNTS else f"{m[k]:.2f}") for k in keys]
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
        "--clip-to-duration",
        action="store_true",
        help="the reward's numbers (prediction and gold clipped to the video) instead of the official "
        "protocol (raw spans)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first invalid row (default: list invalid rows in <output>.invalid.jsonl, "
        "count them, and evaluate the rest)",
    )
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
        invalid: list[InvalidRow] | None = None if args.strict else []
        rows = read_predictions(args.predictions, invalid=invalid)
        metrics = evaluate_predictions(rows, config=config, clip_to_duration=args.clip_to_duration)
    except (OSError, ValueError) as exc:
        sys.stderr.write(
            f"error: {args.predictions}: {exc}\n" if not isinstance(exc, OSError) else f"error: {exc}\n"
        )
        return 2
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        # Always written (empty when every row was valid) so a stale list never outlives a rerun.
        invalid_path = args.output.with_name(args.output.name + ".invalid.jsonl")
        invalid_path.write_text(
            "".join(json.dumps({"line": r.line, "error": r.error}) + "\n" for r in invalid or []),
            encoding="utf-8",
        )
    for bad in invalid or []:
        logger.warning("%s: line %d not evaluated: %s", args.predictions, bad.line, bad.error)
    if invalid:
        sys.stderr.write(
            f"warning: {len(invalid)} invalid row(s) not evaluated (first: line {invalid[0].line}: "
            f"{invalid[0].error})"
            + (f"; all listed in {invalid_path}" if args.output is not None else "")
            + "\n"
        )
    protocol = "reward (clipped to the video)" if args.clip_to_duration else "official (raw spans)"
    sys.stdout.write(format_table(metrics) + f"\nprotocol: {protocol}\n")
    if args.output is not None:
        sys.stdout.write(f"metrics written to {args.output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
