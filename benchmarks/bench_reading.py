"""How often the reward reads what a person reads in real video-LLM outputs, per spelling bucket.

    python benchmarks/bench_reading.py

Reads the hand-labelled rows of ``tests/rewards/realdata_expected.jsonl`` (the responses themselves stay in
``<repo>/../shared/realdata/outputs/``) and prints, per file and spelling bucket, the share of rows the project
reads as the reader did — plain replies in lenient mode (``require_answer_tag=False``), tagged replies with the
default config, NExT-QA index answers with ``mcq_index_base=0`` — beside the same share for the parse the
source repository itself stored (``peer_parsed``: UAG's regex, Video-R1's ``extract_answer``,
Sparse-Video-R1's), measured in the same run. Then, over every row of the two files (not only the labelled
ones), how many replies get any reading at all, per model. The comparison logic is the table test's
(``tests/rewards/test_realdata_outputs.py``), loaded from its file.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import video_rewards as vr

REPO = Path(__file__).resolve().parents[1]

#: Peers whose stored value is a score, not a parse: no reading to compare.
PEERS_WITHOUT_A_PARSE = {"R1-V logged accuracy reward (file)"}


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def peer_agrees(row: Any, source: dict[str, Any]) -> bool | None:
    """Does the source repository's own parse read what the reader reads? ``None``: it stored no parse."""
    name = source.get("peer_name")
    if name is None or name in PEERS_WITHOUT_A_PARSE:
        return None
    peer, expected = source.get("peer_parsed"), row.expected
    if row.file == "tvg":
        if expected is None:
            return peer is None
        if peer is None:
            return False
        if expected == "reversed":
            return bool(peer[0] > peer[1])
        return all(abs(p - e) <= 0.01 for p, e in zip(peer, expected, strict=True))
    if isinstance(peer, int):
        letter: str | None = chr(ord("A") + peer)
    elif isinstance(peer, str) and len(peer.strip()) == 1 and peer.strip().isalpha():
        letter = peer.strip().upper()
    else:
        letter = None  # "N/A", empty, or nothing read
    if expected in (None, "refusal", "ambiguous"):
        return letter is None
    return letter == expected


def _pct(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.1%})" if total else "–"


def reading_table(table_test: ModuleType) -> list[str]:
    rows = table_test.load_table()
    stats: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # rows, ours, peer n, peer ok
    misses: list[str] = []
    for row in rows:
        key = (row.file, row.bucket)
        why = table_test.reading_outcome(row)
        stats[key][0] += 1
        stats[key][1] += why is None
        if why is not None:
            misses.append(f"  {row.file} {row.id} [{row.bucket}]: {why}")
        agrees = peer_agrees(row, table_test.outputs(row.file)[row.id])
        if agrees is not None:
            stats[key][2] += 1
            stats[key][3] += agrees
    lines = [
        "| file | spelling bucket | rows | project reads as the reader | source repo's own parse |",
        "|---|---|---:|---:|---:|",
    ]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (file, bucket), (n, ours, peer_n, peer_ok) in sorted(stats.items()):
        lines.append(f"| {file} | {bucket} | {n} | {_pct(ours, n)} | {_pct(peer_ok, peer_n)} |")
        for i, v in enumerate((n, ours, peer_n, peer_ok)):
            totals[file][i] += v
    for file, (n, ours, peer_n, peer_ok) in sorted(totals.items()):
        lines.append(f"| **{file}** | **all** | **{n}** | **{_pct(ours, n)}** | {_pct(peer_ok, peer_n)} |")
    decidable = [r for r in rows if r.file == "tvg" and r.mode == "lenient" and r.expected]
    read = sum(table_test.reading_outcome(r) is None for r in decidable)
    lines.append("")
    lines.append(
        f"Decidable plain-text grounding answers read as the reader: {_pct(read, len(decidable))} (target ≥ 95 %)"
    )
    mcq = [r for r in rows if r.file == "mcq"]
    read = sum(table_test.reading_outcome(r) is None for r in mcq)
    lines.append(
        f"MCQ answers (tagged, untagged, index) read as the reader: {_pct(read, len(mcq))} (target ≥ 99 %)"
    )
    if misses:
        lines += ["", "Rows read differently:", *misses]
    return lines


def coverage_table(table_test: ModuleType) -> list[str]:
    """Over every row: how many replies get a reading (a span / an option) at all, lenient mode."""
    lenient = vr.RewardConfig(require_answer_tag=False)
    lines = [
        "| file | model | rows | project reads something | source repo's parse reads something |",
        "|---|---|---:|---:|---:|",
    ]
    for file in ("tvg", "mcq"):
        per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for source in table_test.outputs(file).values():
            truth = source["ground_truth"] or table_test.STAND_IN_TRUTH
            cfg = lenient
            if (
                file == "mcq"
                and isinstance(truth.get("answer"), int)
                and "mcq_index_base" in vr.RewardConfig.model_fields
            ):
                cfg = vr.RewardConfig.from_kwargs(require_answer_tag=False, mcq_index_base=0)
            try:
                result = vr.score(source["response"], truth, config=cfg)
                read = result.prediction is not None
            except Exception:  # counted as unread; the table test reports exceptions by row
                read = False
            stats = per_model[source["model"]]
            stats[0] += 1
            stats[1] += read
            if source.get("peer_name") and source["peer_name"] not in PEERS_WITHOUT_A_PARSE:
                stats[2] += 1
                stats[3] += source.get("peer_parsed") not in (None, "N/A", "")
        for model, (n, ours, peer_n, peer_read) in sorted(per_model.items()):
            lines.append(f"| {file} | {model} | {n} | {_pct(ours, n)} | {_pct(peer_read, peer_n)} |")
    return lines


def main() -> None:
    table_test = load_module(REPO / "tests" / "rewards" / "test_realdata_outputs.py", "realdata_table")
    if not table_test.OUTPUTS.is_dir():
        raise SystemExit(f"real outputs not found at {table_test.OUTPUTS}")
    out = sys.stdout.write
    out(f"video_rewards {vr.REWARD_VERSION} from {Path(vr.__file__).parent}\n\n")
    out("Hand-labelled rows, per spelling bucket:\n\n")
    out("\n".join(reading_table(table_test)) + "\n\n")
    out("Every row (lenient mode; index answers with mcq_index_base=0 when available):\n\n")
    out("\n".join(coverage_table(table_test)) + "\n")


if __name__ == "__main__":
    main()
