"""The scripts under examples/ run as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "score_rollouts.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120)


def test_scores_the_bundled_rollouts() -> None:
    out = run()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(" score=" in line for line in lines) == 36
    assert {line.split()[0] for line in lines if "mean score" in line} == {
        "gqa",
        "mcq",
        "multi_tvg",
        "numeric",
        "tvg",
    }


def test_scores_a_user_file_and_names_a_bad_line(tmp_path: Path) -> None:
    good = {
        "response": "<think>x</think><answer>2 to 6</answer>",
        "ground_truth": {"task": "tvg", "segment": [2, 6]},
    }
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(good) + "\n")
    out = run(str(path))
    assert out.returncode == 0, out.stderr
    assert "score=1.000 format=1 ok" in out.stdout

    path.write_text(json.dumps(good) + "\n" + json.dumps({"response": "x"}) + "\n")
    out = run(str(path))
    assert out.returncode != 0
    assert f"{path}:2: missing ground_truth" in out.stderr
