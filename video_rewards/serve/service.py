"""The protocol-independent part of the reward server: validate a batch, score it, never fail it for one row.

Light on purpose (numpy + pydantic through the reward core): the HTTP layer in :mod:`.app` is the only
part that needs the ``serve`` extra.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import video_rewards as vr
from video_rewards.serve.body import REQUEST_OVERHEAD_BYTES, BodyBuffer, decode_json
from video_rewards.serve.errors import RequestError, describe, short

__all__ = ["DEFAULT_STRIP_SUFFIXES", "RewardService", "ServerSettings", "encode_json"]

logger = logging.getLogger(__name__)

#: Special tokens some stacks leave at the end of a decoded sequence; stripped before scoring so a
#: response that ends ``</answer><|im_end|>`` is judged on its text, as in verl (which decodes with
#: ``skip_special_tokens=True``).
DEFAULT_STRIP_SUFFIXES: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>")

_COMPONENTS = ("format", "accuracy", "iou")
_MiB = 1024 * 1024


class ServerSettings(BaseModel):
    """Limits of the reward server (validated once, at start-up; the README's "Limits" list)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_request_bytes: int = Field(
        default=32 * _MiB, gt=0, description="largest request body; a larger Content-Length gets 413 unread"
    )
    max_items: int = Field(default=16_384, gt=0, description="largest batch (items or queries); 413 above")
    max_concurrency: int = Field(
        default=8,
        gt=0,
        description="requests admitted at once (reading, scoring, answering); scoring threads",
    )
    memory_budget_bytes: int | None = Field(
        default=None,
        gt=0,
        description="memory that admitted requests may hold at once, by the cost model of the README "
        "(default: 3 x max-concurrency x max-request-bytes)",
    )
    admission_wait: float = Field(
        default=10.0, ge=0, description="seconds a request may wait for a slot and memory before it gets 503"
    )
    read_timeout: float = Field(
        default=60.0,
        gt=0,
        description="seconds an admitted request has to deliver its whole body (408 after)",
    )
    retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After header of a 503")
    max_connections: int = Field(
        default=1024, gt=0, description="open connections; above it uvicorn itself answers 503"
    )
    strip_suffixes: tuple[str, ...] = DEFAULT_STRIP_SUFFIXES

    @property
    def effective_memory_budget(self) -> int:
        """The budget in bytes; by default room for ``max_concurrency`` full-size requests at 3 bytes of
        memory per body byte (body + text + values of typical JSON, see :func:`.body.request_cost`)."""
        if self.memory_budget_bytes is not None:
            return self.memory_budget_bytes
        return self.max_concurrency * (3 * self.max_request_bytes + REQUEST_OVERHEAD_BYTES)


def encode_json(body: Mapping[str, Any]) -> bytes:
    # A trailing newline keeps `curl` output readable; JSON parsers ignore it.
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode() + b"\n"


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _strip_suffixes(text: str, suffixes: Sequence[str]) -> str:
    """Remove trailing special tokens (any order, repeated) and the whitespace around them."""
    text = text.rstrip()
    changed = True
    while changed:
        changed = False
        for suffix in suffixes:
            if suffix and text.endswith(suffix):
                text = text[: -len(suffix)].rstrip()
                changed = True
    return text


def _failed_summary(errors: Mapping[int, str], total: int) -> str:
    bad = sorted(errors)
    shown = ", ".join(str(i) for i in bad[:20]) + (", ..." if len(bad) > 20 else "")
    return short(
        f"{len(bad)} of {total} items could not be scored (indices {shown}); first: {errors[bad[0]]}"
    )


class RewardService:
    """Validates batches and scores them; one bad item gets its own failure entry, the rest are scored.

    >>> service = RewardService()
    >>> status, body = service.score_items({"items": [
    ...     {"response": "<think></think><answer>B</answer>", "ground_truth": {"task": "mcq", "answer": "B"}},
    ...     {"response": "B", "ground_truth": "not json"}]})
    >>> int(status), body["results"][0]["score"], body["results"][1]["error"][:33], body["failed"]
    (200, 1.0, 'item 1: ground_truth: not valid J', [1])
    """

    def __init__(self, config: vr.RewardConfig | None = None, settings: ServerSettings | None = None) -> None:
        self.config = config
        self.settings = settings or ServerSettings()
        self._requests = 0
        self._failed_items = 0
        self._lock = threading.Lock()  # guards the counters only; scoring shares no state

    def _count(self, failed: int) -> None:
        with self._lock:
            self._requests += 1
            self._failed_items += failed

    def health(self) -> dict[str, Any]:
        with self._lock:
            served, failed = self._requests, self._failed_items
        return {
            "status": "ok",
            "reward_version": vr.REWARD_VERSION,
            "scored_requests": served,
            "failed_items": failed,
        }

    def handle(self, path: str, body: BodyBuffer) -> tuple[HTTPStatus, bytes]:
        """Decode, score and encode one request body (``path`` is ``/score`` or ``/get_reward``).

        Runs in a scoring thread; the body is taken from ``body`` so that it is freed once decoded.
        """
        payload = decode_json(body)
        if path == "/score":
            status, answer = self.score_items(payload)
        else:
            status, answer = HTTPStatus.OK, self.openrlhf_rewards(payload)
        del payload
        return status, encode_json(answer)

    def _check_batch_size(self, n: int) -> None:
        if n > self.settings.max_items:
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"batch has {n} items; this server accepts at most {self.settings.max_items} per request "
                "(split the batch or start the server with a larger --max-items)",
            )

    def _score_columns(self, responses: list[str], truths: list[vr.GroundTruth]) -> list[dict[str, Any]]:
        columns = vr.score_batch(responses, truths, config=self.config)
        results: list[dict[str, Any]] = []
        for i in range(len(responses)):
            result: dict[str, Any] = {
                "score": float(columns["score"][i]),
                "format": float(columns["format"][i]),
            }
            for key in ("accuracy", "iou"):
                value = _finite_or_none(columns[key][i])
                if value is not None:
                    result[key] = value
            result["task"] = columns["task"][i]
            result["failure"] = columns["failure"][i]
            results.append(result)
        return results

    def _score(
        self, indices: list[int], responses: list[str], truths: list[vr.GroundTruth]
    ) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
        """Score validated items as one batch; if the batch raises, score item by item to find the culprit."""
        if not indices:
            return {}, {}
        try:
            return dict(zip(indices, self._score_columns(responses, truths), strict=True)), {}
        except Exception:
            # The reward core should never raise on validated input: keep the trace, then isolate the item.
            logger.exception("scoring a batch of %d raised; scoring its items one by one", len(indices))
        results: dict[int, dict[str, Any]] = {}
        errors: dict[int, str] = {}
        for index, response, truth in zip(indices, responses, truths, strict=True):
            try:
                results[index] = self._score_columns([response], [truth])[0]
            except Exception as exc:
                errors[index] = short(f"item {index}: {describe(exc)}")
        return results, errors

    def score_items(self, payload: Any) -> tuple[HTTPStatus, dict[str, Any]]:
        """``POST /score``: validate each item on its own, score the good ones, keep the order."""
        if not isinstance(payload, Mapping) or "items" not in payload:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, 'request body must be a JSON object with an "items" list'
            )
        unknown = sorted(set(payload) - {"items"})
        if unknown:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"unknown top-level field(s) {unknown}; expected only 'items'"
            )
        items = payload["items"]
        if not isinstance(items, list):
            raise RequestError(HTTPStatus.BAD_REQUEST, f'"items" must be a list, got {type(items).__name__}')
        self._check_batch_size(len(items))

        errors: dict[int, str] = {}
        good: list[int] = []
        responses: list[str] = []
        truths: list[vr.GroundTruth] = []
        for index, item in enumerate(items):
            try:
                response, truth = self._validate_item(item)
            except Exception as exc:  # RecursionError / OverflowError from a hostile truth included
                errors[index] = short(f"item {index}: {describe(exc)}")
                continue
            good.append(index)
            responses.append(_strip_suffixes(response, self.settings.strip_suffixes))
            truths.append(truth)

        scored, score_errors = self._score(good, responses, truths)
        errors.update(score_errors)
        results: list[dict[str, Any]] = [
            {"error": errors[i]} if i in errors else scored[i] for i in range(len(items))
        ]
        body: dict[str, Any] = {"results": results}
        if errors:
            body["failed"] = sorted(errors)
            logger.warning("/score: %s", _failed_summary(errors, len(items)))
        self._count(len(errors))
        return HTTPStatus.OK, body

    @staticmethod
    def _validate_item(item: Any) -> tuple[str, vr.GroundTruth]:
        if not isinstance(item, Mapping):
            raise ValueError(
                f"must be an object with 'response' and 'ground_truth', got {type(item).__name__}"
            )
        unknown = sorted(set(item) - {"response", "ground_truth", "data_source"})
        if unknown:
            raise ValueError(
                f"unknown field(s) {unknown}; expected 'response', 'ground_truth', 'data_source'"
            )
        if "response" not in item or not isinstance(item["response"], str):
            raise ValueError("field 'response' must be a string")
        if "ground_truth" not in item:
            raise ValueError("field 'ground_truth' is missing")
        source = item.get("data_source")
        if source is not None and not isinstance(source, str):
            raise ValueError(f"field 'data_source' must be a string, got {type(source).__name__}")
        # ValueError names the bad field; a data_source naming a task stands in for a missing "task".
        truth = vr.parse_ground_truth(item["ground_truth"], data_source=source)
        return item["response"], truth

    def openrlhf_rewards(self, payload: Any) -> dict[str, Any]:
        """``POST /get_reward``: OpenRLHF's remote reward protocol.

        The protocol has no per-item error, so a row that cannot be scored (bad label, a query without
        its prompt) gets reward 0, ``extra_logs["unscored"] = 1`` and its message in ``errors``.
        """
        if not isinstance(payload, Mapping):
            raise RequestError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
        queries = payload.get("query")
        if not isinstance(queries, list):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"query" must be a list of strings')
        self._check_batch_size(len(queries))
        prompts = payload.get("prompts")
        labels = payload.get("labels")
        if prompts is not None and (not isinstance(prompts, list) or len(prompts) != len(queries)):
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f'"prompts" must be a list as long as "query" ({len(queries)})'
            )
        if not isinstance(labels, list) or len(labels) != len(queries):
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f'"labels" must be a list with one ground truth per query ({len(queries)}); '
                "start OpenRLHF with --label_key pointing at the ground-truth column",
            )
        errors: dict[int, str] = {}
        good: list[int] = []
        responses: list[str] = []
        truths: list[vr.GroundTruth] = []
        for index, (query, label) in enumerate(zip(queries, labels, strict=True)):
            prompt = prompts[index] if prompts is not None else None
            try:
                response = self._response_from_query(query, prompt)
                truth = vr.parse_ground_truth(label)
            except Exception as exc:
                errors[index] = short(f"item {index}: {describe(exc)}")
                continue
            good.append(index)
            responses.append(response)
            truths.append(truth)
        scored, score_errors = self._score(good, responses, truths)
        errors.update(score_errors)

        unscored: dict[str, Any] = {"score": 0.0, "failure": None}
        results = [scored.get(i, unscored) for i in range(len(queries))]
        rewards = [r["score"] for r in results]
        extra_logs = {key: [float(r.get(key, 0.0)) for r in results] for key in _COMPONENTS}
        # Its mean is the share of responses whose answer could not be parsed.
        extra_logs["parse_failed"] = [0.0 if r["failure"] is None else 1.0 for r in results]
        # Its mean is the share of rows the server could not score at all (see "errors").
        extra_logs["unscored"] = [1.0 if i in errors else 0.0 for i in range(len(queries))]
        body: dict[str, Any] = {"rewards": rewards, "scores": rewards, "extra_logs": extra_logs}
        if errors:
            body["failed"] = sorted(errors)
            body["errors"] = [errors[i] for i in body["failed"]]
            logger.warning("/get_reward: %s", _failed_summary(errors, len(queries)))
        self._count(len(errors))
        return body

    def _response_from_query(self, query: Any, prompt: Any) -> str:
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
        text = query
        if prompt:
            # The prompt carries the task instruction, which may show the answer format itself; score
            # only what the model wrote after it.
            if query.startswith(prompt):
                text = query[len(prompt) :]
            else:
                at = query.find(prompt)
                if at < 0:
                    raise ValueError("query does not contain its prompt, so the response cannot be located")
                text = query[at + len(prompt) :]
        return _strip_suffixes(text, self.settings.strip_suffixes)
