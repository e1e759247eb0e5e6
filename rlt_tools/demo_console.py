"""The demo's console: what ran and where its output went (the demo's product), each command logged to a file."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["run_command", "say"]


def say(text: str = "") -> None:
    # The demo's console output is its product (what ran, where things went); library code logs instead.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run_command(cmd: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
    """Run one pipeline command, its output going to ``log``; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = " ".join(shlex.quote(c) for c in cmd)
    say(f"  $ {shown}")
    started = time.monotonic()
    with log.open("w") as fh:
        fh.write(f"$ {shown}\n")
        fh.flush()
        proc = subprocess.run(
            list(cmd), stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    say(f"    ({time.monotonic() - started:.0f} s, log: {log})")
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(
            f"command failed with exit code {proc.returncode}: {shown}\n--- {log} (tail) ---\n{tail}"
        )
