"""Fixtures for the converter tests: real mp4 files and the converters' command lines run in-process."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dataset_converters import skipped_path

CONVERTERS = Path(__file__).resolve().parents[2] / "recipes" / "data"


@pytest.fixture(scope="session")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real mp4 files: ``AAAAA`` 6 s, ``BBBBB`` 4 s (Charades ids), ``v_anet1`` 8 s (ActivityNet's
    ``v_`` prefix), ``1001/4242`` 5 s (NExT's nested layout)."""
    from rlt_tools.tiny_clips import make_clip

    root = tmp_path_factory.mktemp("videos")
    make_clip(root / "AAAAA.mp4", seconds=6.0, fps=4)
    make_clip(root / "BBBBB.mp4", seconds=4.0, fps=4)
    make_clip(root / "v_anet1.mp4", seconds=8.0, fps=4)
    make_clip(root / "1001" / "4242.mp4", seconds=5.0, fps=4)
    return root


class ConverterCli:
    """``recipes/data/<name>.py`` run as ``__main__`` in this process (the real CLI, no subprocess)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def __call__(self, name: str, *args: str | Path) -> int:
        self._monkeypatch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(CONVERTERS / f"{name}.py"), run_name="__main__")
        code = exit_info.value.code
        return int(code) if code is not None else 0

    @staticmethod
    def rows(path: Path) -> list[dict[str, Any]]:
        return pq.read_table(path).to_pylist()

    @staticmethod
    def truths(path: Path) -> list[dict[str, Any]]:
        return [json.loads(r["reward_model"]["ground_truth"]) for r in pq.read_table(path).to_pylist()]

    @staticmethod
    def skipped(output: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in skipped_path(output).read_text().splitlines()]


@pytest.fixture
def converter(monkeypatch: pytest.MonkeyPatch) -> ConverterCli:
    return ConverterCli(monkeypatch)
