"""The reward server over real loopback HTTP: both protocols, bad input, limits, concurrency and load."""

from __future__ import annotations

import http.client
import json
import math
import random
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import video_rewards as vr
from video_rewards.serve import ServerSettings
from video_rewards.serve.runner import BackgroundServer

MCQ = {"task": "mcq", "answer": "B", "options": ["A. a dog", "B. a cat", "C. a bird"]}
TVG = {"task": "tvg", "segment": [2.0, 6.0], "duration": 20.0}
GQA = {
    "task": "gqa",
    "answer": "A",
    "options": ["A. left", "B. right"],
    "segment": [4.0, 8.0],
    "duration": 10.0,
}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer() as running:
        yield running


@pytest.fixture()
def small_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(settings=ServerSettings(max_request_bytes=2_000, max_items=3)) as running:
        yield running


def _request(
    server: BackgroundServer, method: str, path: str, body: Any = None, *, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = json.loads(resp.read())
        assert resp.getheader("Content-Type") == "application/json"
        return resp.status, payload
    finally:
        conn.close()


def _expected(response: str, truth: Any, data_source: str | None = None) -> dict[str, Any]:
    """What the library says for one item, in the server's result layout."""
    result = vr.score(response, truth, data_source=data_source)
    out: dict[str, Any] = {"score": result.score, "format": result.format}
    if result.accuracy is not None:
        out["accuracy"] = result.accuracy
    if result.iou is not None:
        out["iou"] = result.iou
    out["task"] = result.task
    out["failure"] = result.failure
    return out


GOOD_ITEMS: list[dict[str, Any]] = [
    {"response": "<think>it meows</think><answer>B</answer>", "ground_truth": MCQ},
    {
        "response": "<think>hm</think><answer>C</answer>",
        "ground_truth": json.dumps(MCQ),
        "data_source": "nextqa",
    },
    {"response": "<think>early</think><answer>3.0 to 6.0</answer>", "ground_truth": TVG},
    {"response": "the moment is 2 - 6", "ground_truth": TVG, "data_source": "charades"},
    {
        "response": '<think>x</think><answer>{"answer": "A", "start_time": 4, "end_time": 10}</answer>',
        "ground_truth": GQA,
    },
    {"response": "", "ground_truth": GQA},
]


def test_health(server: BackgroundServer) -> None:
    status, body = _request(server, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["reward_version"] == vr.REWARD_VERSION


def test_score_matches_library_in_order(server: BackgroundServer) -> None:
    status, body = _request(server, "POST", "/score", {"items": GOOD_ITEMS})
    assert status == 200, body
    expected = [_expected(i["response"], i["ground_truth"], i.get("data_source")) for i in GOOD_ITEMS]
    assert body["results"] == expected
    # The table is not degenerate: right and wrong answers both occur.
    assert body["results"][0]["accuracy"] == 1.0 and body["results"][1]["accuracy"] == 0.0
    assert "accuracy" not in body["results"][2] and 0.0 < body["results"][2]["iou"] < 1.0
    assert "iou" not in body["results"][0]


def test_data_source_can_name_the_task(server: BackgroundServer) -> None:
    item = {
        "response": GOOD_ITEMS[2]["response"],
        "ground_truth": {"segment": [2.0, 6.0]},
        "data_source": "tvg",
    }
    status, body = _request(server, "POST", "/score", {"items": [item]})
    assert status == 200, body
    assert body["results"][0]["iou"] == 0.75


def test_empty_batch(server: BackgroundServer) -> None:
    assert _request(server, "POST", "/score", {"items": []}) == (200, {"results": []})


def test_bad_items_are_named_and_the_rest_scored(server: BackgroundServer) -> None:
    items: list[Any] = [
        GOOD_ITEMS[0],
        {
            "response": "<answer>A</answer>",
            "ground_truth": {"task": "mcq", "answer": "Z", "options": ["A. x"]},
        },
        "not an object",
        {"ground_truth": MCQ},
        {"response": "x", "ground_truth": {"task": "tvg", "segment": [5, 2]}},
        {"response": "x", "ground_truth": "{not json"},
        {"response": "x", "ground_truth": MCQ, "extra": 1},
        GOOD_ITEMS[2],
    ]
    status, body = _request(server, "POST", "/score", {"items": items})
    assert status == 200  # one bad item never fails the batch
    results = body["results"]
    assert len(results) == len(items)
    assert results[0] == _expected(GOOD_ITEMS[0]["response"], MCQ)
    assert results[7] == _expected(GOOD_ITEMS[2]["response"], TVG)
    for index in range(1, 7):
        assert set(results[index]) == {"error"}
        assert results[index]["error"].startswith(f"item {index}:")
    assert "answer" in results[1]["error"]
    assert "response" in results[3]["error"]
    assert "segment" in results[4]["error"]
    assert "extra" in results[6]["error"]
    assert body["failed"] == [1, 2, 3, 4, 5, 6]
    assert "error" not in body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", '"items"'),
        (b'{"items": {"a": 1}}', '"items" must be a list'),
        (b'{"items": [], "config": {}}', "unknown top-level field"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_requests_answer_400(server: BackgroundServer, raw: bytes, message: str) -> None:
    status, body = _request(server, "POST", "/score", raw=raw)
    assert status == 400
    assert message in body["error"]


def test_unknown_path_and_method(server: BackgroundServer) -> None:
    assert _request(server, "GET", "/nope")[0] == 404
    assert _request(server, "POST", "/nope", {"items": []})[0] == 404
    status, body = _request(server, "GET", "/score")
    assert status == 405 and "POST" in body["error"]


def test_body_over_the_limit_is_refused_unread(small_server: BackgroundServer) -> None:
    big = {"items": [{"response": "x" * 5_000, "ground_truth": MCQ}]}
    status, body = _request(small_server, "POST", "/score", big)
    assert status == 413
    assert "exceeds the limit of 2000 bytes" in body["error"]
    # The server stays healthy for the next client.
    assert _request(small_server, "GET", "/health")[0] == 200


def test_too_many_items_is_413(small_server: BackgroundServer) -> None:
    status, body = _request(small_server, "POST", "/score", {"items": [GOOD_ITEMS[0]] * 4})
    assert status == 413
    assert "at most 3" in body["error"]
    status, body = _request(small_server, "POST", "/get_reward", {"query": ["a"] * 4, "labels": [MCQ] * 4})
    assert status == 413


def test_missing_content_length_is_411(server: BackgroundServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
        reply = sock.makefile("rb").read()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411")
    assert "Content-Length" in json.loads(payload)["error"]


# ------------------------------------------------------------------------------------------- OpenRLHF


PROMPT = (
    "<|im_start|>user\n<video>When does the cat jump? Think in <think></think>, then answer as "
    "<answer>start to end</answer>.<|im_end|>\n<|im_start|>assistant\n"
)


def test_openrlhf_protocol_scores_the_response_after_the_prompt(server: BackgroundServer) -> None:
    responses = [
        "<think>it jumps early</think><answer>2.0 to 6.0</answer>",
        "<think>late</think><answer>10 to 14</answer>",
        "<think>a cat</think><answer>B</answer>",
    ]
    truths = [TVG, TVG, MCQ]
    payload = {
        "query": [PROMPT + r + "<|im_end|>" for r in responses],
        "prompts": [PROMPT] * 3,
        "labels": [json.dumps(truths[0]), truths[1], json.dumps(truths[2])],
    }
    status, body = _request(server, "POST", "/get_reward", payload)
    assert status == 200, body
    expected = [vr.score(r, t) for r, t in zip(responses, truths, strict=True)]
    assert body["rewards"] == [e.score for e in expected]
    assert body["scores"] == body["rewards"]
    assert body["rewards"][0] == 1.0  # the example tags in the prompt did not break the format check
    assert body["extra_logs"]["format"] == [e.format for e in expected]
    assert body["extra_logs"]["iou"] == [1.0, 0.0, 0.0]
    assert body["extra_logs"]["accuracy"] == [0.0, 0.0, 1.0]
    assert body["extra_logs"]["parse_failed"] == [0.0, 0.0, 0.0]


def test_openrlhf_bad_rows_get_a_counted_failure_and_the_rest_are_scored(server: BackgroundServer) -> None:
    payload = {
        "query": [PROMPT + "<think>c</think><answer>B</answer>", "<answer>B</answer>", "a reply", 3],
        "prompts": [PROMPT, PROMPT, "another prompt", PROMPT],
        "labels": [MCQ, MCQ, MCQ, MCQ],
    }
    payload["query"][1] = PROMPT + "<answer>B</answer>"
    payload["labels"][1] = '{"task": "tvg"}'
    status, body = _request(server, "POST", "/get_reward", payload)
    assert status == 200
    assert body["rewards"][0] == 1.0
    assert body["rewards"][1:] == [0.0, 0.0, 0.0]
    assert body["extra_logs"]["unscored"] == [0.0, 1.0, 1.0, 1.0]
    assert body["extra_logs"]["parse_failed"] == [0.0, 0.0, 0.0, 0.0]
    assert body["failed"] == [1, 2, 3]
    first, second, third = body["errors"]
    assert first.startswith("item 1:") and "segment" in first
    assert second.startswith("item 2:") and "does not contain its prompt" in second
    assert third.startswith("item 3:") and "query must be a string" in third
    failed_before = _request(server, "GET", "/health")[1]["failed_items"]
    _request(server, "POST", "/get_reward", payload)
    assert _request(server, "GET", "/health")[1]["failed_items"] == failed_before + 3


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"query": "x", "labels": []}, '"query" must be a list'),
        ({"query": ["x"]}, '"labels" must be a list'),
        ({"query": ["x"], "labels": [MCQ, MCQ]}, '"labels" must be a list'),
        ({"query": ["x"], "prompts": [], "labels": [MCQ]}, '"prompts" must be a list'),
        (["x"], "must be a JSON object"),
    ],
)
def test_openrlhf_malformed(server: BackgroundServer, payload: dict[str, Any], message: str) -> None:
    status, body = _request(server, "POST", "/get_reward", payload)
    assert status == 400
    assert message in body["error"]


# ------------------------------------------------------------------------------------ concurrency, load


def _load_items(n: int, seed: int) -> list[dict[str, Any]]:
    """Distinct responses whose scores differ, so a swapped or lost result cannot go unnoticed."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        if i % 3 == 0:
            letter = rng.choice("ABC")
            items.append({"response": f"<think>{i}</think><answer>{letter}</answer>", "ground_truth": MCQ})
        else:
            start = rng.uniform(0, 15)
            end = start + rng.uniform(0.5, 5)
            truth = {"task": "tvg", "segment": [2.0, 2.0 + (i % 7) + 1], "duration": 20.0}
            items.append(
                {
                    "response": f"<think>{i}</think><answer>{start:.3f} to {end:.3f}</answer>",
                    "ground_truth": truth,
                }
            )
    return items


def test_load_10k_responses_over_concurrent_requests(server: BackgroundServer) -> None:
    items = _load_items(10_000, seed=0)
    columns = vr.score_batch([i["response"] for i in items], [i["ground_truth"] for i in items])
    expected_scores = columns["score"].tolist()
    assert len(set(expected_scores)) > 1000  # the check below can tell items apart

    batch = 50
    batches = [(k, items[k : k + batch]) for k in range(0, len(items), batch)]
    local = threading.local()

    def send(job: tuple[int, list[dict[str, Any]]]) -> tuple[int, list[float]]:
        # One persistent (keep-alive) connection per client thread, as a rollout worker would hold.
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        offset, chunk = job
        local.conn.request(
            "POST", "/score", body=json.dumps({"items": chunk}), headers={"Content-Type": "application/json"}
        )
        resp = local.conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200, body
        return offset, [r["score"] for r in body["results"]]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, batches))

    got: list[float | None] = [None] * len(items)
    for offset, scores in answers:
        assert len(scores) == batch
        got[offset : offset + batch] = scores
    scores = [g for g in got if g is not None]
    assert len(scores) == len(items)
    mismatched = [
        i for i, (g, e) in enumerate(zip(scores, expected_scores, strict=True)) if not math.isclose(g, e)
    ]
    assert mismatched == []
    assert _request(server, "GET", "/health")[1]["scored_requests"] >= len(batches)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_serves_and_rejects_bad_options() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "video_rewards.serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    bad = subprocess.run(
        [sys.executable, "-m", "video_rewards.serve", "--reward-kwargs", '{"no_such_option": 1}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "no_such_option" in bad.stderr
