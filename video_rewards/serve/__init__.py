"""HTTP reward server: the dual reward for RL stacks that call a reward *service* (OpenRLHF and others).

``python -m video_rewards.serve --host 127.0.0.1 --port 5000`` (needs the ``serve`` extra: uvicorn +
starlette; this package's light parts, :class:`RewardService` and :class:`ServerSettings`, import
without it). Endpoints:

``POST /get_reward`` — OpenRLHF's ``--remote_rm_url`` protocol.
    Request ``{"query": [prompt + response, ...], "prompts": [prompt, ...], "labels": [ground truth, ...]}``
    (``labels`` are the dataset's ``--label_key`` column: the ground truth as a JSON string or object).
    The response is the query with its prompt prefix removed. Answer
    ``{"rewards": [...], "scores": [...], "extra_logs": {"format", "accuracy", "iou", "parse_failed",
    "unscored"}}`` (one number per sample in each log; a component a task does not have is sent as
    ``0.0``). A row that cannot be scored (bad label, query without its prompt) gets reward 0 and
    ``unscored`` 1, and the answer adds ``"failed": [indices]`` and ``"errors": ["item 3: ...", ...]``.

``POST /score`` — this toolkit's batch endpoint.
    Request ``{"items": [{"response": str, "ground_truth": {...} | str, "data_source": str?}, ...]}``;
    answer ``{"results": [{"score", "format", "accuracy"?, "iou"?, "task", "failure"}, ...]}`` in request
    order. A bad item gets ``{"error": "item 3: ..."}`` in its slot while the other items are still
    scored, and the answer (still 200) adds ``"failed": [indices]``.

``GET /health`` — ``{"status": "ok", "reward_version", "scored_requests", "failed_items", "in_flight",
    "waiting", "reserved_bytes", "memory_budget_bytes", "refused": {status: count}}``.

A request the server refuses as a whole gets ``{"error": "..."}`` with 400 (malformed JSON, a bad
envelope, conflicting ``Content-Length``), 408 (body not in by ``--read-timeout``), 411 (no
``Content-Length``), 413 (body, batch or memory need over a limit) or 503 + ``Retry-After`` (at
capacity). Limits and the memory bound: :class:`ServerSettings`, :mod:`.body`, the README.
"""

from video_rewards.serve.cli import main
from video_rewards.serve.errors import RequestError
from video_rewards.serve.service import DEFAULT_STRIP_SUFFIXES, RewardService, ServerSettings

__all__ = ["DEFAULT_STRIP_SUFFIXES", "RequestError", "RewardService", "ServerSettings", "main"]
