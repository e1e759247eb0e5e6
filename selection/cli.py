"""``python -m selection rollout|score|select|report`` (also installed as ``video-rlt-select``).

Typical run::

    python -m selection rollout --dataset train.parquet --model Qwen/Qwen2.5-VL-7B-Instruct \\
        --engine vllm --n 8 --output runs/rollouts
    python -m selection score --dataset train.parquet --rollouts runs/rollouts --output runs/scores.parquet
    python -m selection select --dataset train.parquet --scores runs/scores.parquet --min-std 0.05 \\
        --output runs/train.selected.parquet
    python -m selection report --scores runs/scores.parquet --selection runs/train.selected.parquet \\
        --output runs/report
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

logger = logging.getLogger("selection")

__all__ = ["build_parser", "main"]


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _add_rule_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection rule (flags override --config)")
    g.add_argument(
        "--config", type=Path, help="YAML file with a SelectConfig (variance, pass_band, rank, quota, …)"
    )
    g.add_argument("--min-std", type=float, help="paper's rule: drop samples whose metric std is below this")
    g.add_argument(
        "--metric", choices=["reward", "task"], help="std of the reward, or of the task's raw metric"
    )
    g.add_argument("--keep-saturated", action="store_true", help="do not drop all-equal groups")
    g.add_argument(
        "--pass-band", type=float, nargs=2, metavar=("LOW", "HIGH"), help="keep pass rate in [LOW, HIGH]"
    )
    g.add_argument("--top-k", type=int, help="keep the K samples with the highest std")
    g.add_argument("--quantile", type=float, help="keep samples with std at or above this quantile")
    g.add_argument("--quota-by", choices=["task", "data_source"], help="group for --quota")
    g.add_argument("--quota", type=int, help="at most this many samples per group")
    g.add_argument("--target-size", type=int, help="at most this many samples in all")
    g.add_argument("--order", choices=["std_desc", "random"], help="which samples ranked rules keep first")
    g.add_argument("--seed", type=int, help="seed for --order random")
    g.add_argument(
        "--allow-unscored", action="store_true", help="drop dataset rows without a score instead of failing"
    )
    g.add_argument(
        "--drop-invalid-stats",
        action="store_true",
        help="drop rows with NaN/infinite/negative statistics (counted as invalid_stats) instead of failing",
    )
    p.add_argument(
        "--no-fingerprint-check",
        action="store_true",
        help="use scores without checking they were computed on this dataset (see README)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selection",
        description="Variance-aware data selection: repeated inference, scoring, selection, report.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("rollout", help="run the model n times on every dataset row (resumable)")
    r.add_argument("--dataset", type=Path, required=True, help="verl-format parquet")
    r.add_argument("--model", required=True, help="model directory (or hub name where a hub is reachable)")
    r.add_argument("--engine", choices=["vllm", "hf"], default="vllm")
    r.add_argument("--n", type=int, default=8, help="rollouts per sample")
    r.add_argument("--output", type=Path, required=True, help="run directory (created; reused to resume)")
    r.add_argument("--temperature", type=float, default=1.0)
    r.add_argument("--top-p", type=float, default=1.0)
    r.add_argument("--top-k", type=int, default=-1)
    r.add_argument("--max-tokens", type=int, default=512)
    r.add_argument("--repetition-penalty", type=float, default=1.0)
    r.add_argument("--seed", type=int, default=0, help="run seed; each sample derives its own")
    r.add_argument("--shard-size", type=int, default=64, help="dataset rows per shard file")
    r.add_argument("--limit", type=int, help="only the first N dataset rows")
    r.add_argument("--decode-threads", type=int, default=2)
    r.add_argument(
        "--engine-arg",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='engine keyword (JSON value), e.g. tensor_parallel_size=2, gpu_memory_utilization=0.8, dtype="bfloat16"',
    )
    r.add_argument(
        "--distributed", choices=["none", "ray"], default="none", help="ray: one engine replica per worker"
    )
    r.add_argument("--num-workers", type=int, default=1, help="engine replicas with --distributed ray")
    r.add_argument("--gpus-per-worker", type=float, default=1.0)
    r.add_argument("--cpus-per-worker", type=float, default=1.0)
    r.add_argument("--ray-address", help="existing cluster ('auto'); default starts a local Ray")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = r.add_argument_group("adaptive rollouts (--n is n_max; see selection.adaptive)")
    a.add_argument(
        "--adaptive", action="store_true", help="draw in rounds; stop each sample once keep/drop is decided"
    )
    a.add_argument("--min-std", type=float, default=0.0, help="the std threshold `select --min-std` will use")
    a.add_argument("--error", type=float, help="the rule's error level (default 0.02; lower: more recall)")
    a.add_argument("--reward-config", type=Path, help="YAML/JSON of video_rewards.RewardConfig fields")

    s = sub.add_parser("score", help="score rollouts: one row per sample with the spread of its rewards")
    s.add_argument("--dataset", type=Path, required=True, help="the dataset the rollouts were made from")
    s.add_argument("--rollouts", type=Path, required=True, help="rollout run dir, parquet/JSONL file or dir")
    s.add_argument("--output", type=Path, required=True, help="scores parquet")
    s.add_argument("--reward-config", type=Path, help="YAML/JSON of video_rewards.RewardConfig fields")
    s.add_argument("--pass-threshold", type=float, default=1.0, help="accuracy counted as a pass")
    s.add_argument("--workers", type=int, default=0, help="reward processes (0 = one per CPU core)")
    s.add_argument("--batch-size", type=int, default=65_536, help="rollouts read per batch")
    s.add_argument("--model", help="record this model name (for rollouts made elsewhere)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument(
        "--rollout-settings", type=json.loads, help="record these settings (JSON) for external rollouts"
    )

    c = sub.add_parser(
        "select", help="keep the informative samples; write verl-ready parquet + dropped table"
    )
    c.add_argument("--dataset", type=Path, required=True)
    c.add_argument("--scores", type=Path, required=True)
    c.add_argument("--output", type=Path, required=True, help="kept rows (verl parquet)")
    c.add_argument("--dropped", type=Path, help="dropped rows (default: <output>.dropped.parquet)")
    _add_rule_flags(c)

    p = sub.add_parser("report", help="Markdown summary + histograms of a selection")
    p.add_argument("--scores", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True, help="directory for report.md and PNGs")
    p.add_argument("--selection", type=Path, help="a `select` output: use the rule recorded in it")
    p.add_argument("--dataset", type=Path, help="check the scores were computed on this dataset")
    _add_rule_flags(p)
    return parser


def _rule_config(args: argparse.Namespace) -> Any:
    from selection.rules import SelectConfig, load_select_config

    base = load_select_config(args.config) if args.config else None
    data: dict[str, Any] = base.model_dump() if base is not None else {}
    rule_flags = (args.min_std, args.metric, args.keep_saturated or None)
    if any(v is not None for v in rule_flags):
        variance = dict(data.get("variance") or {})
        if args.min_std is not None:
            variance["min_std"] = args.min_std
        if args.metric is not None:
            variance["metric"] = args.metric
            data["metric"] = args.metric
        if args.keep_saturated:
            variance["drop_saturated"] = False
        data["variance"] = variance
    if args.pass_band:
        data["pass_band"] = {"low": args.pass_band[0], "high": args.pass_band[1]}
    if args.top_k is not None or args.quantile is not None:
        data["rank"] = {"top_k": args.top_k, "quantile": args.quantile}
    if args.quota is not None:
        data["quota"] = {"by": args.quota_by or "task", "max_per_group": args.quota}
    for key in ("target_size", "order", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.allow_unscored:
        data["allow_unscored"] = True
    if args.drop_invalid_stats:
        data["drop_invalid_stats"] = True
    if base is None and not data:
        return None
    return SelectConfig.model_validate(data)


def _run(args: argparse.Namespace) -> str:
    if args.command == "rollout":
        from selection.engines import SamplingConfig
        from selection.rollout import RolloutConfig, run_rollout

        config = RolloutConfig(
            dataset=args.dataset,
            model=args.model,
            output=args.output,
            engine=args.engine,
            sampling=SamplingConfig(
                n=args.n,
                temperature=args.temperature,
                top_p=args.top_p,
                top_k=args.top_k,
                max_tokens=args.max_tokens,
                repetition_penalty=args.repetition_penalty,
                seed=args.seed,
            ),
            shard_size=args.shard_size,
            limit=args.limit,
            engine_options=dict(args.engine_arg),
            decode_threads=args.decode_threads,
            distributed=args.distributed,
            num_workers=args.num_workers,
            gpus_per_worker=args.gpus_per_worker,
            cpus_per_worker=args.cpus_per_worker,
            ray_address=args.ray_address,
            progress=not args.no_progress,
            adaptive=_adaptive_config(args),
        )
        summary = run_rollout(config)
        adaptive = summary.get("adaptive")
        share = (
            f" ({adaptive['rollout_share']:.0%} of the full rule's; kept {adaptive['kept']}, dropped {adaptive['dropped']})"
            if adaptive and adaptive["rollout_share"] is not None
            else ""
        )
        return (
            f"rollout: {summary['samples_done']}/{summary['samples_total']} samples, {summary['rollouts']} rollouts{share}, "
            f"{summary['failed_samples']} failed {summary['failed_by_reason'] or ''} -> {args.output}"
        )
    if args.command == "score":
        import os

        from selection.score import ScoreConfig, score_rollouts

        reward = _reward_config(args.reward_config)
        workers = args.workers or min(os.cpu_count() or 1, 8)
        meta = score_rollouts(
            args.dataset,
            args.rollouts,
            args.output,
            ScoreConfig(
                reward=reward, pass_threshold=args.pass_threshold, workers=workers, batch_size=args.batch_size
            ),
            model=args.model,
            rollout_settings=args.rollout_settings,
            progress=not args.no_progress,
        )
        counts = meta["counts"]
        return (
            f"score: {counts['rollouts']} rollouts, {counts['samples_scored']} samples scored, "
            f"{counts['samples_failed']} failed {counts['failed_by_reason'] or ''}, in {meta['seconds']} s "
            f"-> {args.output}"
        )
    if args.command == "select":
        from selection.rules import SelectConfig
        from selection.select import select_dataset

        rule = _rule_config(args) or SelectConfig()
        meta = select_dataset(
            args.dataset,
            args.scores,
            args.output,
            rule,
            dropped_output=args.dropped,
            verify_fingerprint=not args.no_fingerprint_check,
        )
        counts = meta["counts"]
        inf = meta["informative_fraction"]
        return (
            f"select: kept {counts['kept']} of {counts['input']} ({meta['keep_reason']}); dropped "
            f"{counts['dropped_by_reason']}; informative {inf['before']} -> {inf['after']} -> {args.output}"
        )
    from selection.report import write_report

    md = write_report(
        args.scores,
        args.output,
        config=_rule_config(args),
        selection=args.selection,
        dataset=args.dataset,
        verify_fingerprint=not args.no_fingerprint_check,
    )
    return f"report: {md}"


def _adaptive_config(args: argparse.Namespace) -> Any:
    from selection.adaptive_rollout import AdaptiveConfig

    if not args.adaptive:
        if args.error is not None or args.reward_config is not None or args.min_std:
            raise ValueError("--min-std / --error / --reward-config of `rollout` need --adaptive")
        return None
    options: dict[str, Any] = {"min_std": args.min_std}
    if args.error is not None:
        options["error"] = args.error
    if args.reward_config is not None:
        options["reward"] = _reward_config(args.reward_config).model_dump(mode="json")
    return AdaptiveConfig(**options)


def _reward_config(path: Path | None) -> Any:
    from video_rewards import RewardConfig

    if path is None:
        return RewardConfig()
    import yaml

    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a reward config must be a mapping of RewardConfig fields")
    return RewardConfig.from_kwargs(**raw)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        line = _run(args)
    except (ValueError, ValidationError, FileNotFoundError) as exc:
        # Bad input (dataset, rollouts, scores, config): one clear line, no traceback.
        from selection.rules import validation_message

        logger.debug("details", exc_info=True)
        sys.stderr.write(f"error: {validation_message(exc) if isinstance(exc, ValidationError) else exc}\n")
        return 2
    sys.stdout.write(line + "\n")
    return 0
