"""The README's "other RL stacks" snippets run and print what the README says they print."""

from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- section:other-stacks -->(.*?)<!-- /section:other-stacks -->", text, re.S)
    assert match, "README has no other-stacks section"
    return match.group(1)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_plain_python_snippet_prints_what_its_comments_say(tmp_path: Path) -> None:
    code = _blocks("python")[0]
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    promised = [line.split("# ", 1)[1] for line in code.splitlines() if line.startswith("print(")]
    assert proc.stdout.splitlines() == promised


@pytest.mark.slow  # importing trl pulls in torch
def test_trl_snippet_names_the_real_api() -> None:
    """The TRL snippet needs a model, so it is checked statically here (test_trl_grpo.py runs the same
    calls for real): it parses, and everything it imports exists."""
    code = _blocks("python")[1]
    tree = ast.parse(code)
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert {node.module for node in imports} >= {"trl", "video_rewards.integrations.trl"}
    for node in imports:
        module = importlib.import_module(str(node.module))
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the snippet uses curl")
def test_server_snippet_answers_as_documented(tmp_path: Path) -> None:
    script = _blocks("bash")[0]
    port = str(_free_port())
    lines = [line.replace("5000", port) for line in script.splitlines()]
    # Wait for the background server before the first curl, and stop it at the end.
    wait = f"for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:{port}/health && break; sleep 0.1; done"
    body = "\n".join([lines[0], wait, *lines[1:], "kill %1"])
    proc = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\nexport PATH={Path(sys.executable).parent}:$PATH\n{body}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    health, scored = proc.stdout.strip().splitlines()
    assert json.loads(health)["status"] == "ok"
    promised = next(line[2:] for line in script.splitlines() if line.startswith('# {"results"'))
    assert json.loads(scored) == json.loads(promised)
