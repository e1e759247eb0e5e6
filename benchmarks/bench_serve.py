"""Reward-server throughput and memory: the uvicorn + starlette server against the standard-library one.

    python benchmarks/bench_serve.py [--rounds 3] [--quick]

The baseline is the previous server, kept verbatim in ``benchmarks/stdlib_server_baseline.py`` (a copy,
not ``git show``, so that the benchmark runs from a shallow clone). Both run as their own process with
the same limits (``--max-concurrency 8``) and answer the same requests from the same client, measured in
the same run, alternating between servers round by round (best round reported):

* ``/score`` with 1 item per request (per-request overhead) and with 64 items per request (rollout
  batches), 16 keep-alive clients; throughput in scored responses per second;
* ``/get_reward`` (OpenRLHF) with 64 queries per request;
* memory: 12 clients each sending a ~31 MiB body to a server admitting 2 requests; peak RSS growth of
  the server process over its idle RSS (``VmHWM`` - ``VmRSS`` from ``/proc``) and the wall time.

The client runs in this process with one thread per connection, so on a small machine it competes with
the server for CPU; both servers pay that equally.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MCQ = {"task": "mcq", "answer": "B", "options": ["A. a dog", "B. a cat", "C. a bird"]}
_MiB = 1024 * 1024

SERVERS: dict[str, list[str]] = {
    "stdlib http.server (baseline)": [sys.executable, str(HERE / "stdlib_server_baseline.py")],
    "uvicorn + starlette (new)": [sys.executable, "-m", "video_rewards.serve"],
}
# The baseline makes surplus requests wait for a slot with no time limit; the new server is told to
# let them wait too (instead of answering 503 after 10 s), so that both answer every request.
WAIT_FLAGS = {"uvicorn + starlette (new)": ["--admission-wait", "600"]}


@contextmanager
def running(command: list[str], *flags: str) -> Iterator[tuple[int, int]]:
    """A server process on a free loopback port: ``(pid, port)``."""
    proc = subprocess.Popen(
        [*command, "--port", "0", "--log-level", "INFO", *flags], stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        port = None
        for _ in range(100):
            line = proc.stderr.readline()
            match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
            if not line:
                break
        if port is None:
            raise RuntimeError(f"{command} did not start")
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _items(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            start = rng.uniform(0, 15)
            truth = {"task": "tvg", "segment": [2.0, 6.0], "duration": 20.0}
            out.append(
                {
                    "response": f"<think>{'x' * 300}</think><answer>{start:.2f} to {start + 3:.2f}</answer>",
                    "ground_truth": truth,
                }
            )
        else:
            out.append(
                {
                    "response": f"<think>{'y' * 300}</think><answer>{rng.choice('ABC')}</answer>",
                    "ground_truth": MCQ,
                }
            )
    return out


def _bodies(path: str, batch: int, requests: int) -> list[bytes]:
    bodies = []
    for r in range(requests):
        items = _items(batch, seed=r)
        if path == "/score":
            payload: dict[str, Any] = {"items": items}
        else:
            prompt = "<|im_start|>user\nWhich animal? Answer in <answer></answer>.<|im_end|>\n<|im_start|>assistant\n"
            payload = {
                "query": [prompt + it["response"] for it in items],
                "prompts": [prompt] * batch,
                "labels": [json.dumps(it["ground_truth"]) for it in items],
            }
        bodies.append(json.dumps(payload).encode())
    return bodies


def throughput(port: int, path: str, bodies: list[bytes], clients: int) -> float:
    """Requests answered per second (all must be 200)."""
    local = threading.local()

    def send(body: bytes) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        local.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = local.conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path} answered {resp.status}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    return len(bodies) / (time.perf_counter() - start)


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(key)


def memory_under_big_bodies(
    command: list[str], flags: list[str], clients: int = 12
) -> tuple[float, float, list[int]]:
    """Peak RSS growth (MiB) and wall seconds while ``clients`` each send a ~31 MiB body."""
    per_item = (31 * _MiB) // 64 - 100
    response = "<think>" + "the cat jumps, then runs. " * (per_item // 26) + "</think><answer>B</answer>"
    body = json.dumps({"items": [{"response": response, "ground_truth": MCQ}] * 64}).encode()
    with running(command, "--max-concurrency", "2", *flags) as (pid, port):
        throughput(port, "/score", [json.dumps({"items": _items(4, 0)}).encode()], 1)  # warm up
        idle = _status(pid, "VmRSS")
        statuses: list[int] = []

        def send() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)

        start = time.perf_counter()
        threads = [threading.Thread(target=send) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        return (_status(pid, "VmHWM") - idle) / _MiB, wall, sorted(statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    workloads: list[tuple[str, str, int, list[bytes]]] = [
        ("/score, 1 item per request", "/score", 1, _bodies("/score", 1, 4000 // scale)),
        ("/score, 64 items per request", "/score", 64, _bodies("/score", 64, 400 // scale)),
        ("/get_reward, 64 queries per request", "/get_reward", 64, _bodies("/get_reward", 64, 400 // scale)),
    ]
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for name, command in SERVERS.items():
            with running(command, "--max-concurrency", "8", *WAIT_FLAGS.get(name, [])) as (_, port):
                throughput(port, "/score", _bodies("/score", 8, 50), 4)  # warm up
                for label, path, batch, bodies in workloads:
                    rate = throughput(port, path, bodies, clients=16) * batch
                    best[(label, name)] = max(best.get((label, name), 0.0), rate)

    print(f"Reward server throughput, scored responses/s (best of {args.rounds} rounds, 16 clients):")
    print(f"| workload | {' | '.join(SERVERS)} | new / baseline |")
    print("|---|" + "---:|" * (len(SERVERS) + 1))
    for label, *_ in workloads:
        rates = [best[(label, name)] for name in SERVERS]
        print(f"| {label} | " + " | ".join(f"{r:,.0f}" for r in rates) + f" | {rates[1] / rates[0]:.2f}x |")

    print("\nMemory: 12 clients x ~31 MiB /score bodies, --max-concurrency 2:")
    print("| server | peak RSS growth | wall | answers |")
    print("|---|---:|---:|---|")
    for name, command in SERVERS.items():
        growth, wall, statuses = memory_under_big_bodies(command, WAIT_FLAGS.get(name, []))
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        print(f"| {name} | {growth:,.0f} MiB | {wall:.1f} s | {counts} |")


if __name__ == "__main__":
    main()
