"""The light core stays light: the reward, the server, the evaluator and the TRL adapter import and score
without torch, pandas, verl, TRL or transformers (what ``pip install video-rlt`` gives other RL stacks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

HEAVY = (
    "torch",
    "pandas",
    "pyarrow",
    "verl",
    "trl",
    "transformers",
    "datasets",
    "ray",
    "vllm",
    "decord",
    "av",
)
REPO = Path(__file__).resolve().parents[2]

# Imports the light modules, scores through each entry point, and lists the heavy modules it pulled in.
PROBE = textwrap.dedent(
    """
    import json, sys
    import video_rewards as vr
    import video_rewards.evaluate as ev
    import video_rewards.serve as serve
    from video_rewards.integrations.trl import DualReward

    truth = {"task": "tvg", "segment": [2, 6], "duration": 20}
    reply = "<think>t</think><answer>2 to 6</answer>"
    service = serve.RewardService()
    status, body = service.score_items({"items": [{"response": reply, "ground_truth": truth}]})
    rows = [ev.Prediction(1, reply, vr.parse_ground_truth(truth), "charades")]
    out = {
        "score": vr.score(reply, truth).score,
        "served": body["results"][0]["score"],
        "trl": DualReward()(prompts=["p"], completions=[reply], ground_truth=[truth])[0],
        "mIoU": ev.evaluate_predictions(rows)["charades"]["mIoU"],
        "heavy": sorted(m for m in HEAVY if m in sys.modules),
    }
    print(json.dumps(out))
    """
)


def _probe(python: str, cwd: Path) -> dict[str, object]:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _check(result: dict[str, object]) -> None:
    assert result["heavy"] == []
    assert result["score"] == result["served"] == result["trl"] == 1.0
    assert result["mIoU"] == 100.0


def test_light_modules_import_no_heavy_stack(tmp_path: Path) -> None:
    """In the full development venv (where torch & co. ARE installed), nothing imports them."""
    _check(_probe(sys.executable, tmp_path))


@pytest.mark.e2e
def test_fresh_venv_with_the_light_install(tmp_path: Path) -> None:
    """``pip install <wheel>`` (no extras) into an empty venv: imports and scores with numpy + pydantic only."""
    # Build from a copy: an in-tree build would leave build/ and egg-info behind in the checkout.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in (
        "video_rewards",
        "video_decoding",
        "selection",
        "dataset_converters",
        "verl_plugins",
        "rlt_tools",
        "video_rlt",
        "recipes",
    ):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("video_rlt-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = str(env_dir / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=600,
    )
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert names.isdisjoint({"torch", "pandas", "verl", "trl", "transformers"})
    _check(_probe(python, tmp_path))
    # The server module runs from the light install too.
    proc = subprocess.run(
        [python, "-m", "video_rewards.serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "--max-items" in proc.stdout
