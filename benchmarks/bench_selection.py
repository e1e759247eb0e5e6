"""Throughput and peak memory of `selection score` + `selection select` on synthetic rollouts.

    python benchmarks/bench_selection.py                      # 1M and 4M rollouts (125k / 500k samples × 8)
    python benchmarks/bench_selection.py --samples 20000      # a quick run

Each step runs as its own `python -m selection …` process, as a user runs it; peak memory is the peak of
the summed RSS of that process and its worker processes (sampled every 50 ms); CPU seconds include the
workers, so on a loaded machine (other jobs sharing the 2 cores) CPU / cores bounds the idle wall time. The baseline, measured in
the same run, is the obvious non-streaming implementation: load every rollout into pandas, call
`video_rewards.compute_score` per rollout, then `groupby().agg` (timed on a 100k-rollout slice and
reported per rollout). Synthetic data are cached under --workdir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
            total += p.memory_info().rss
    return total


def run_measured(cmd: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (the process and its workers), peak summed RSS (bytes), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(ps))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return wall, cpu, peak, out


def baseline_per_rollout(dataset: Path, rollouts: Path, rows: int = 100_000) -> float:
    """Seconds per rollout of the naive path (pandas + compute_score per row + groupby)."""
    import pandas as pd
    import pyarrow.parquet as pq

    import video_rewards as vr

    start = time.perf_counter()
    data = pd.read_parquet(dataset)
    gt = dict(
        zip(
            data["extra_info"].map(lambda e: e["index"]),
            data["reward_model"].map(lambda r: r["ground_truth"]),
            strict=True,
        )
    )
    src = dict(zip(data["extra_info"].map(lambda e: e["index"]), data["data_source"], strict=True))
    frame = pq.ParquetFile(rollouts).read_row_groups([0, 1]).to_pandas().head(rows)
    frame["score"] = [
        vr.compute_score(src[s], r, gt[s])["score"]
        for s, r in zip(frame["sample_id"], frame["response"], strict=True)
    ]
    frame.groupby("sample_id")["score"].agg(["mean", "std", "min", "max", "count"])
    return (time.perf_counter() - start) / len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, nargs="+", default=[125_000, 500_000])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=0, help="reward processes for score (0 = one per core)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "bench-selection"
    )
    args = parser.parse_args()

    from selection.synthetic import write_synthetic

    py = sys.executable
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; python {sys.version.split()[0]}"
    )
    results = []
    base = None
    for samples in args.samples:
        d = args.workdir / f"s{samples}_n{args.n}"
        if not (d / "rollouts.parquet").exists():
            t = time.perf_counter()
            write_synthetic(d, samples, args.n)
            print(
                f"  generated {samples * args.n:,} synthetic rollouts in {time.perf_counter() - t:.0f} s ({d})"
            )
        dataset, rollouts = d / "dataset.parquet", d / "rollouts.parquet"
        if base is None:
            base = baseline_per_rollout(dataset, rollouts)
        scores, kept, report = d / "scores.parquet", d / "kept.parquet", d / "report"
        sw, sc, sm, _ = run_measured(
            [py, "-m", "selection", "score", "--dataset", str(dataset), "--rollouts", str(rollouts),
             "--output", str(scores), "--workers", str(args.workers), "--no-progress"]
        )  # fmt: skip
        cw, cc, cm, out = run_measured(
            [py, "-m", "selection", "select", "--dataset", str(dataset), "--scores", str(scores),
             "--min-std", "0.05", "--output", str(kept)]
        )  # fmt: skip
        rw, _, _, _ = run_measured(
            [
                py,
                "-m",
                "selection",
                "report",
                "--scores",
                str(scores),
                "--selection",
                str(kept),
                "--output",
                str(report),
            ]
        )
        rollouts_n = samples * args.n
        results.append(
            {
                "rollouts": rollouts_n,
                "samples": samples,
                "score_s": round(sw, 1),
                "score_cpu_s": round(sc, 1),
                "score_peak_gb": round(sm / 2**30, 2),
                "score_rollouts_per_s": round(rollouts_n / sw),
                "select_s": round(cw, 1),
                "select_cpu_s": round(cc, 1),
                "select_peak_gb": round(cm / 2**30, 2),
                "score_plus_select_s": round(sw + cw, 1),
                "report_s": round(rw, 1),
                "baseline_s_estimated": round(base * rollouts_n, 1),
                "speedup_vs_baseline": round(base * rollouts_n / (sw + cw), 1),
                "select_stdout": out.strip(),
            }
        )
    load = os.getloadavg()[0]
    print(
        f"baseline (pandas + compute_score per rollout + groupby): {1 / base:,.0f} rollouts/s; load avg {load:.1f}"
    )
    header = (
        f"{'rollouts':>10} {'score s':>8} {'cpu s':>6} {'peak GB':>8} {'select s':>9} {'cpu s':>6} {'peak GB':>8} "
        f"{'total s':>8} {'report s':>9} {'baseline s':>11} {'speedup':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['rollouts']:>10,} {r['score_s']:>8} {r['score_cpu_s']:>6} {r['score_peak_gb']:>8} {r['select_s']:>9} "
            f"{r['select_cpu_s']:>6} {r['select_peak_gb']:>8} "
            f"{r['score_plus_select_s']:>8} {r['report_s']:>9} {r['baseline_s_estimated']:>11} {r['speedup_vs_baseline']:>7}x"
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
