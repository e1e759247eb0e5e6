"""Baseline of ``benchmarks/bench_serve.py``: the reward server as it was before it moved to uvicorn +
starlette, i.e. ``video_rewards/serve.py`` at commit 6030254 (hand-written on the standard library's
``http.server``, a thread per connection, bodies read before admission). Kept verbatim apart from its
docstrings, so that the benchmark measures the new server against it in the same run:
``python benchmarks/stdlib_server_baseline.py --port 0`` serves it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import video_rewards as vr

logger = logging.getLogger(__name__)

#: Special tokens some stacks leave at the end of a decoded sequence; stripped before scoring so a
#: response that ends ``</answer><|im_end|>`` is judged on its text, as in verl (which decodes with
#: ``skip_special_tokens=True``).
DEFAULT_STRIP_SUFFIXES: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>")

_MAX_ERROR_CHARS = 300
_COMPONENTS = ("format", "accuracy", "iou")


class ServerSettings(BaseModel):
    """Limits and behaviour of the reward server (validated once, at start-up)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_items: int = Field(default=16_384, gt=0)
    max_concurrency: int = Field(default=32, gt=0)
    #: Seconds a connection may stay idle (or trickle a body) before it is closed.
    socket_timeout: float = Field(default=60.0, gt=0)
    strip_suffixes: tuple[str, ...] = DEFAULT_STRIP_SUFFIXES


class RequestError(Exception):
    """A request the server refuses as a whole; carries the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


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


class RewardService:
    """The protocol-independent part of the server: validates batches and scores them."""

    def __init__(self, config: vr.RewardConfig | None = None, settings: ServerSettings | None = None) -> None:
        self.config = config
        self.settings = settings or ServerSettings()
        self._requests = 0
        self._lock = threading.Lock()  # guards the counter only; scoring shares no state

    def count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def health(self) -> dict[str, Any]:
        with self._lock:
            served = self._requests
        return {"status": "ok", "reward_version": vr.REWARD_VERSION, "scored_requests": served}

    def _check_batch_size(self, n: int) -> None:
        if n > self.settings.max_items:
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"batch has {n} items; this server accepts at most {self.settings.max_items} per request "
                "(split the batch or start the server with a larger --max-items)",
            )

    def _score(self, responses: list[str], ground_truths: list[vr.GroundTruth]) -> list[dict[str, Any]]:
        """Score already-validated items; one result dict per item."""
        if not responses:
            return []
        columns = vr.score_batch(responses, ground_truths, config=self.config)
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
            except ValueError as exc:
                errors[index] = _short(f"item {index}: {exc}")
                continue
            good.append(index)
            responses.append(_strip_suffixes(response, self.settings.strip_suffixes))
            truths.append(truth)

        scored = self._score(responses, truths)
        results: list[dict[str, Any]] = [{} for _ in items]
        for index, result in zip(good, scored, strict=True):
            results[index] = result
        for index, message in errors.items():
            results[index] = {"error": message}
        body: dict[str, Any] = {"results": results}
        if not errors:
            return HTTPStatus.OK, body
        bad = sorted(errors)
        shown = ", ".join(str(i) for i in bad[:20]) + (", ..." if len(bad) > 20 else "")
        body["error"] = _short(
            f"{len(bad)} of {len(items)} items could not be scored (indices {shown}); "
            f"first: {errors[bad[0]]}; the other items were scored"
        )
        return HTTPStatus.BAD_REQUEST, body

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
        """``POST /get_reward``: OpenRLHF's remote reward protocol (all-or-nothing per request)."""
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
        responses: list[str] = []
        truths: list[vr.GroundTruth] = []
        for index, (query, label) in enumerate(zip(queries, labels, strict=True)):
            prompt = prompts[index] if prompts is not None else None
            try:
                responses.append(self._response_from_query(query, prompt))
                truths.append(vr.parse_ground_truth(label))
            except ValueError as exc:
                raise RequestError(HTTPStatus.BAD_REQUEST, _short(f"item {index}: {exc}")) from exc
        results = self._score(responses, truths)
        rewards = [r["score"] for r in results]
        extra_logs = {key: [float(r.get(key, 0.0)) for r in results] for key in _COMPONENTS}
        # Its mean is the share of responses whose answer could not be parsed.
        extra_logs["parse_failed"] = [0.0 if r["failure"] is None else 1.0 for r in results]
        return {"rewards": rewards, "scores": rewards, "extra_logs": extra_logs}

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


class RewardRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 JSON handler; every answer, error or not, is a JSON object with a Content-Length."""

    protocol_version = "HTTP/1.1"
    server: RewardHTTPServer

    def setup(self) -> None:
        super().setup()
        # A per-connection read timeout, so an idle or trickling client cannot hold a thread forever.
        self.connection.settimeout(self.server.service.settings.socket_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def _send_json(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        # A trailing newline keeps `curl` output readable; JSON parsers ignore it.
        data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: HTTPStatus, message: str) -> None:
        self._send_json(status, {"error": message})

    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise RequestError(
                HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send Content-Length"
            )
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}") from None
        limit = self.server.service.settings.max_request_bytes
        if length < 0 or length > limit:
            # The body is left unread, so this connection cannot carry another request.
            self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {length} bytes exceeds the limit of {limit} bytes "
                "(split the batch or start the server with a larger --max-request-bytes)",
            )
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body ended after {len(raw)} of {length} bytes")
        try:
            return json.loads(raw)
        except RecursionError:
            raise RequestError(HTTPStatus.BAD_REQUEST, "request body is nested too deeply") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, _short(f"request body is not valid JSON: {exc}")
            ) from None

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/health":
            self._send_json(HTTPStatus.OK, self.server.service.health())
        elif self.path.split("?", 1)[0] in ("/score", "/get_reward"):
            self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.path} takes POST")
        else:
            self._send_error(
                HTTPStatus.NOT_FOUND, f"no endpoint {self.path}; use /score, /get_reward or /health"
            )

    def do_POST(self) -> None:
        service = self.server.service
        path = self.path.split("?", 1)[0]
        try:
            if path not in ("/score", "/get_reward"):
                self.close_connection = True  # the body is not read
                raise RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {path}; POST to /score or /get_reward")
            payload = self._read_json()
            with self.server.scoring_slots:
                if path == "/score":
                    status, body = service.score_items(payload)
                else:
                    status, body = HTTPStatus.OK, service.openrlhf_rewards(payload)
        except RequestError as exc:
            logger.info("%s %s -> %d: %s", self.command, path, exc.status, exc.message)
            self._send_error(exc.status, exc.message)
            return
        except Exception:
            # A bug, not bad input: answer 500 rather than dropping the connection, and keep the trace.
            logger.exception("internal error while scoring %s", path)
            self.close_connection = True
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error while scoring; see server log")
            return
        service.count_request()
        self._send_json(status, body)


class RewardHTTPServer(ThreadingHTTPServer):
    """A thread per connection; ``scoring_slots`` bounds how many batches score at the same time."""

    daemon_threads = True
    # Many clients connect at once under load (one per rollout worker); the stdlib default backlog of 5
    # makes their connects fail with ECONNREFUSED on a busy server.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: RewardService) -> None:
        self.service = service
        self.scoring_slots = threading.BoundedSemaphore(service.settings.max_concurrency)
        super().__init__(address, RewardRequestHandler)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    config: vr.RewardConfig | None = None,
    settings: ServerSettings | None = None,
) -> RewardHTTPServer:
    """Bind a server (``port=0`` picks a free port; read it from ``server.server_address``).

    Call ``serve_forever()`` on it (in a thread for tests) and ``shutdown()`` + ``server_close()`` to stop.
    """
    return RewardHTTPServer((host, port), RewardService(config, settings))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m video_rewards.serve",
        description="Serve the dual video reward over HTTP (OpenRLHF /get_reward, JSON /score, /health).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=5000, help="TCP port (0 picks a free one)")
    parser.add_argument(
        "--reward-kwargs",
        default="{}",
        help='JSON object of RewardConfig overrides, e.g. \'{"iou_mode": "giou"}\'',
    )
    defaults = ServerSettings()
    parser.add_argument("--max-request-bytes", type=int, default=defaults.max_request_bytes)
    parser.add_argument("--max-items", type=int, default=defaults.max_items)
    parser.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        kwargs = json.loads(args.reward_kwargs)
        if not isinstance(kwargs, dict):
            raise ValueError("--reward-kwargs must be a JSON object")
        config = vr.RewardConfig.from_kwargs(**kwargs)
        settings = ServerSettings(
            max_request_bytes=args.max_request_bytes,
            max_items=args.max_items,
            max_concurrency=args.max_concurrency,
        )
    except ValueError as exc:  # pydantic's ValidationError and JSONDecodeError are ValueErrors
        sys.stderr.write(f"error: {exc}\n")
        return 2
    server = make_server(args.host, args.port, config=config, settings=settings)
    host, port = server.server_address[:2]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s: the reward server has no authentication", args.host)
    logger.info("serving video rewards (version %s) on http://%s:%s", vr.REWARD_VERSION, host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
