"""The reward server under hostile or careless clients (loopback only, bounded in time).

Stalled bodies, floods beyond capacity, oversized, malformed and ambiguous requests, items whose ground
truth or scoring breaks, and a memory bound under 12 clients each sending a ~31 MiB body. After every
attack the server must still answer ``/health``.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

import video_rewards as vr
from video_rewards.serve import ServerSettings
from video_rewards.serve.runner import BackgroundServer
from video_rewards.truth import GroundTruth

MCQ = {"task": "mcq", "answer": "B", "options": ["A. a dog", "B. a cat", "C. a bird"]}
GOOD = {"response": "<think>a cat</think><answer>B</answer>", "ground_truth": MCQ}
_MiB = 1024 * 1024


def _http(
    server: BackgroundServer, method: str, path: str, body: bytes | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], dict[str, Any]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = json.loads(resp.read())
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def _score(server: BackgroundServer, items: list[Any]) -> tuple[int, dict[str, Any]]:
    status, _, body = _http(server, "POST", "/score", json.dumps({"items": items}).encode())
    return status, body


def _healthy(server: BackgroundServer) -> dict[str, Any]:
    status, _, body = _http(server, "GET", "/health", timeout=10)
    assert status == 200 and body["status"] == "ok"
    # Nothing admitted is left holding a slot or memory once the clients are gone.
    return body


def _raw_exchange(server: BackgroundServer, data: bytes, timeout: float = 20) -> tuple[int, bytes]:
    """Send raw bytes, read until the server closes or answers; the status and the answer's body."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _length(reply):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3})", head)
    assert match, reply[:200]
    return int(match.group(1)), body


def _length(reply: bytes) -> int:
    match = re.search(rb"(?i)content-length: (\d+)", reply.partition(b"\r\n\r\n")[0])
    return int(match.group(1)) if match else 1 << 30


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer() as running:
        yield running


@pytest.fixture()
def strict_server() -> Iterator[BackgroundServer]:
    """One slot, no waiting, a short read deadline, small bodies."""
    settings = ServerSettings(
        max_concurrency=1, admission_wait=0, read_timeout=0.5, max_request_bytes=64 * 1024, max_items=64
    )
    with BackgroundServer(settings=settings) as running:
        yield running


# ---------------------------------------------------------------------------------------- stalls, floods


def test_stalled_body_gets_408_and_frees_its_slot(strict_server: BackgroundServer) -> None:
    start = time.monotonic()
    status, body = _raw_exchange(
        strict_server, b'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"items": ['
    )
    assert status == 408
    assert "--read-timeout" in json.loads(body)["error"]
    assert time.monotonic() - start < 10
    health = _healthy(strict_server)
    assert health["in_flight"] == 0 and health["reserved_bytes"] == 0
    assert health["refused"]["408"] == 1
    # The one slot is free again.
    assert _score(strict_server, [GOOD])[0] == 200


def test_headers_only_then_silence_gets_408(strict_server: BackgroundServer) -> None:
    status, _ = _raw_exchange(
        strict_server, b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    )
    assert status == 408
    _healthy(strict_server)


def test_over_capacity_gets_503_with_retry_after_and_health_still_answers() -> None:
    settings = ServerSettings(max_concurrency=1, admission_wait=0, read_timeout=20)
    with BackgroundServer(settings=settings) as server:
        _one_slot_held(server)


def _one_slot_held(strict_server: BackgroundServer) -> None:
    # A client holds the only slot by stalling mid-body ...
    holder = socket.create_connection((strict_server.host, strict_server.port), timeout=10)
    try:
        holder.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        deadline = time.monotonic() + 5
        while _healthy(strict_server)["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        # ... so the next request is refused at once, unread, and told when to come back.
        status, headers, body = _http(strict_server, "POST", "/score", json.dumps({"items": [GOOD]}).encode())
        assert status == 503
        assert headers["retry-after"] == "1"
        assert "server at capacity (1/1 requests" in body["error"]
        assert _healthy(strict_server)["in_flight"] == 1  # /health is not admitted: it answers meanwhile
    finally:
        holder.close()
    assert _healthy(strict_server)["refused"]["503"] == 1


def test_flood_beyond_concurrency_is_refused_503_and_the_server_stays_up() -> None:
    settings = ServerSettings(max_concurrency=2, admission_wait=0)
    payload = json.dumps({"items": [GOOD] * 2000}).encode()  # long enough that requests overlap
    with BackgroundServer(settings=settings) as server:
        answers: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def client() -> None:
            for _ in range(3):
                status, headers, body = _http(server, "POST", "/score", payload, timeout=60)
                with lock:
                    answers.append((status, headers.get("retry-after")))
                if status == 200:
                    assert len(body["results"]) == 2000 and body["results"][0]["score"] == 1.0

        threads = [threading.Thread(target=client) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(answers) == 72
        assert {status for status, _ in answers} == {200, 503}
        assert all(retry == "1" for status, retry in answers if status == 503)
        health = _healthy(server)
        assert health["refused"]["503"] == sum(status == 503 for status, _ in answers)
        assert health["in_flight"] == 0 and health["reserved_bytes"] == 0
        assert _score(server, [GOOD])[0] == 200


# ------------------------------------------------------------------------------- bad framing, bad bodies


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 2\r\nContent-Length: 3\r\n", 400),  # conflicting: which body is it?
        (b"Content-Length: 2, 3\r\n", 400),
        (b"Content-Length: -2\r\n", 400),
        (b"Content-Length: 0x10\r\n", 400),
        (b"Transfer-Encoding: chunked\r\n", 411),
        (b"", 411),
        (b"Content-Length: 99999999999999999999999\r\n", 400),  # more digits than h11 frames
        (b"Content-Length: 99999999999\r\n", 413),
        (b"Content-Length: 65537\r\n", 413),
    ],
)
def test_bad_framing_is_refused(strict_server: BackgroundServer, headers: bytes, status: int) -> None:
    got, _ = _raw_exchange(strict_server, b"POST /score HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n{}")
    assert got == status
    _healthy(strict_server)


def test_duplicate_equal_content_length_is_one_length(strict_server: BackgroundServer) -> None:
    data = json.dumps({"items": [GOOD]}).encode()
    length = b"Content-Length: %d\r\n" % len(data)
    status, body = _raw_exchange(
        strict_server, b"POST /score HTTP/1.1\r\nHost: x\r\n" + length * 2 + b"\r\n" + data
    )
    assert status == 200 and json.loads(body)["results"][0]["score"] == 1.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"items": [', "not valid JSON"),
        (b'{"items": ["\xff"]}', "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (
            b'{"items": [' + b'{"response": "x", "ground_truth": ' * 3000 + b"1" + b"}" * 3000 + b"]}",
            "nested too deeply",
        ),
        (b'{"items": 5}', '"items" must be a list'),
        (b'"items"', '"items" list'),
    ],
)
def test_malformed_bodies_get_400_naming_the_problem(
    server: BackgroundServer, raw: bytes, message: str
) -> None:
    status, _, body = _http(server, "POST", "/score", raw)
    assert status == 400
    assert message in body["error"]
    _healthy(server)


def test_client_that_leaves_mid_body_frees_its_slot(strict_server: BackgroundServer) -> None:
    with socket.create_connection((strict_server.host, strict_server.port), timeout=10) as sock:
        sock.sendall(b'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"items"')
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while _healthy(strict_server)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _healthy(strict_server)["in_flight"] == 0
    assert _score(strict_server, [GOOD])[0] == 200


def test_request_that_needs_more_than_the_memory_budget_is_413() -> None:
    # 20 000 empty objects are a 60 kB body but ~10 MB once parsed and answered.
    settings = ServerSettings(max_request_bytes=1 * _MiB, memory_budget_bytes=2 * _MiB, max_items=50_000)
    with BackgroundServer(settings=settings) as server:
        status, _, body = _http(server, "POST", "/score", json.dumps({"items": [{}] * 20_000}).encode())
        assert status == 413
        assert "budget" in body["error"]
        assert _score(server, [GOOD] * 10)[0] == 200
        _healthy(server)


# -------------------------------------------------------------------------- items that break on their own


class _RaisingTruth(GroundTruth):
    task: Literal["raises_in_server_test"] = "raises_in_server_test"
    answer: str


def _raising_scorer(answer: str, truth: Any, cfg: vr.RewardConfig) -> vr.TaskOutcome:
    if "boom" in answer:
        raise RuntimeError("scorer exploded")
    return vr.TaskOutcome(accuracy=float(answer.strip() == truth.answer))


@pytest.fixture(scope="module")
def raising_task() -> str:
    """A real task registered in the real registry whose scorer raises on one answer (a reward bug)."""
    name = "raises_in_server_test"
    if name not in vr.known_tasks():
        vr.register_task(
            name, truth=_RaisingTruth, weights=vr.TaskWeights(accuracy=1.0), has_accuracy=True, has_iou=False
        )(_raising_scorer)
    return name


def test_hostile_items_fail_alone_in_a_200(raising_task: str) -> None:
    deep_truth = "[" * 5000 + "]" * 5000
    items: list[Any] = [
        GOOD,
        {
            "response": "<answer>1</answer>",
            "ground_truth": {"task": "tvg", "segment": [1, 2], "duration": "HUGE"},
        },
        {"response": "<answer>1</answer>", "ground_truth": {"task": "numeric", "answer": "INF"}},
        {"response": "<answer>1</answer>", "ground_truth": deep_truth},
        {
            "response": "<answer>1</answer>",
            "ground_truth": json.dumps({"task": "numeric", "answer": 10**400}),
        },
        {
            "response": "<think></think><answer>boom</answer>",
            "ground_truth": {"task": raising_task, "answer": "x"},
        },
        {
            "response": "<think></think><answer>x</answer>",
            "ground_truth": {"task": raising_task, "answer": "x"},
        },
        GOOD,
    ]
    # A 5001-digit JSON number (over Python's int-conversion limit) and one that overflows a float.
    raw = json.dumps({"items": items}).replace('"HUGE"', "1" + "0" * 5000).replace('"INF"', "1e999")
    with BackgroundServer() as server:  # a fresh one: its failure count is this test's
        status, _, body = _http(server, "POST", "/score", raw.encode())
        assert status == 200, body
        results = body["results"]
        assert body["failed"] == [1, 2, 3, 4, 5]
        assert results[0]["score"] == results[7]["score"] == 1.0
        assert results[6]["accuracy"] == 1.0  # the raising task scores its other answers
        for index in body["failed"]:
            assert set(results[index]) == {"error"} and results[index]["error"].startswith(f"item {index}:")
        assert "duration" in results[1]["error"]
        assert "answer" in results[2]["error"]
        assert "RuntimeError" in results[5]["error"]

        labels = [json.dumps(MCQ), deep_truth, {"task": raising_task, "answer": "x"}]
        openrlhf = {
            "query": ["<answer>B</answer>", "<answer>B</answer>", "<think></think><answer>boom</answer>"],
            "labels": labels,
        }
        status, _, body = _http(server, "POST", "/get_reward", json.dumps(openrlhf).encode())
        assert status == 200, body
        assert body["extra_logs"]["unscored"] == [0.0, 1.0, 1.0]
        assert body["failed"] == [1, 2]
        assert _healthy(server)["failed_items"] == 7


# ------------------------------------------------------------------------------------------ memory bound


def _rss_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_peak_memory_under_12_clients_of_31_mib_stays_within_the_budget() -> None:
    """12 clients each send a ~31 MiB body to a server admitting 2 requests: its peak RSS grows by no
    more than its memory budget (3 x 2 x 32 MiB) plus a small allowance for the interpreter and the
    connections waiting their turn. The standard-library server this replaced grew by ~0.6-1.2 GB here."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "video_rewards.serve",
            "--port",
            "0",
            "--max-concurrency",
            "2",
            "--admission-wait",
            "120",
            "--log-level",
            "INFO",  # the first line names the port
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        port = int(match.group(1))
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained

        budget = ServerSettings(max_concurrency=2).effective_memory_budget
        per_item = (31 * _MiB) // 64 - 100
        response = "<think>" + "the cat jumps, then runs. " * (per_item // 26) + "</think><answer>B</answer>"
        body = json.dumps({"items": [{"response": response, "ground_truth": MCQ}] * 64}).encode()
        assert 30 * _MiB < len(body) < 32 * _MiB

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/score", json.dumps({"items": [GOOD]}))
        assert conn.getresponse().status == 200  # warmed up: the scorer's imports and caches are in
        conn.close()
        idle = _rss_bytes(proc.pid, "VmRSS")

        statuses: list[int] = []

        def client() -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=240)
            c.request("POST", "/score", body, headers={"Content-Type": "application/json"})
            resp = c.getresponse()
            answer = json.loads(resp.read())
            if resp.status == 200:
                assert answer["results"][0]["failure"] == "response_too_long"
            statuses.append(resp.status)
            c.close()

        threads = [threading.Thread(target=client) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        peak = _rss_bytes(proc.pid, "VmHWM")
        assert statuses == [200] * 12  # all waited their turn (none past --admission-wait)
        allowance = 24 * _MiB
        assert peak - idle <= budget + allowance, (peak - idle) / _MiB
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read())["reserved_bytes"] == 0
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
