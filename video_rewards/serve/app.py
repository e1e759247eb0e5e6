"""The reward server's ASGI application (starlette; served by uvicorn, see :mod:`.runner`).

Every POST is admitted (a slot and a share of the memory budget, :mod:`.admission`) before its body
is read, read against a deadline, then decoded, scored and encoded in a scoring thread so that the event
loop keeps answering ``/health`` and refusing what it cannot take. Every refusal is logged with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import video_rewards as vr
from video_rewards.serve.admission import Admission, Refused, Ticket
from video_rewards.serve.body import BodyBuffer, admission_cost, request_cost
from video_rewards.serve.errors import RequestError
from video_rewards.serve.service import RewardService, ServerSettings, encode_json

__all__ = ["make_app"]

logger = logging.getLogger("video_rewards.serve")

_SCORING_PATHS = ("/score", "/get_reward")
# Bodies up to this size are measured on the event loop (well under a millisecond), saving a thread hop.
_MEASURE_ON_LOOP_BYTES = 128 * 1024


class _ClientGone(Exception):
    """The client closed the connection before its body was complete."""


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"


class RewardServer:
    """The handlers, the admission state and the scoring threads of one server."""

    def __init__(self, service: RewardService) -> None:
        self.service = service
        settings = service.settings
        self.settings = settings
        self.admission = Admission(
            settings.max_concurrency, settings.effective_memory_budget, settings.admission_wait
        )
        self.refused: Counter[int] = Counter()
        self.pool: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # One scoring thread per slot: an admitted request never queues behind another for a thread.
        self.pool = ThreadPoolExecutor(self.settings.max_concurrency, thread_name_prefix="reward-scoring")
        try:
            yield
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------------------------- answers

    def _refuse(
        self, request: Request, status: HTTPStatus, reason: str, *, close: bool, retry: bool = False
    ) -> Response:
        """A JSON error; ``close`` when the body was left unread (the connection cannot carry another request)."""
        self.refused[int(status)] += 1
        logger.warning(
            "refused %s %s from %s: %d %s", request.method, request.url.path, _client(request), status, reason
        )
        headers = {}
        if close:
            headers["Connection"] = "close"
        if retry:
            headers["Retry-After"] = str(self.settings.retry_after_seconds)
        return Response(encode_json({"error": reason}), int(status), headers, "application/json")

    async def health(self, request: Request) -> Response:
        body: dict[str, Any] = self.service.health()
        body.update(
            in_flight=self.admission.active,
            waiting=self.admission.waiting,
            reserved_bytes=self.admission.reserved,
            memory_budget_bytes=self.admission.budget,
            refused={str(status): n for status, n in sorted(self.refused.items())},
        )
        return Response(encode_json(body), 200, media_type="application/json")

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """404 / 405 from the router, as JSON; a body that came with them is not read."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        path = request.url.path
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            reason = f"{path} takes {'POST' if path in _SCORING_PATHS else 'GET'}"
        else:
            reason = f"no endpoint {path}; use POST /score, POST /get_reward or GET /health"
        return self._refuse(request, HTTPStatus(status), reason, close=True)

    # ------------------------------------------------------------------------------------- scoring

    def _content_length(self, request: Request) -> int:
        """The body's declared length; refuses chunked, missing, malformed, conflicting and oversize ones."""
        if "transfer-encoding" in request.headers:
            raise RequestError(
                HTTPStatus.LENGTH_REQUIRED,
                "chunked bodies (Transfer-Encoding) are not accepted; send Content-Length",
            )
        values = {
            v.strip() for header in request.headers.getlist("content-length") for v in header.split(",")
        }
        if not values:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if len(values) > 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"conflicting Content-Length headers {sorted(values)}")
        (value,) = values
        if not (value.isascii() and value.isdigit()):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {value[:40]!r}")
        limit = self.settings.max_request_bytes
        if len(value) > 18 or int(value) > limit:
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"request body of {value[:40]} bytes exceeds the limit of {limit} bytes "
                "(split the batch or start the server with a larger --max-request-bytes)",
            )
        return int(value)

    async def _read_body(self, request: Request, length: int) -> bytearray:
        """The whole body, or :class:`asyncio.TimeoutError` when it is not in by the read deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.read_timeout
        data = bytearray(length)
        view = memoryview(data)
        received = 0
        try:
            more = True
            while more:
                message = await asyncio.wait_for(request.receive(), max(deadline - loop.time(), 0.0))
                if message["type"] == "http.disconnect":
                    raise _ClientGone(f"the client closed the connection after {received} of {length} bytes")
                chunk: bytes = message.get("body", b"")
                more = bool(message.get("more_body", False))
                if received + len(chunk) > length:  # the HTTP parser frames bodies by length: cannot happen
                    raise RequestError(HTTPStatus.BAD_REQUEST, "body longer than its Content-Length")
                view[received : received + len(chunk)] = chunk
                received += len(chunk)
        finally:
            view.release()
        if received != length:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body ended after {received} of {length} bytes")
        return data

    async def _in_thread(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    async def score(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /score`` and ``POST /get_reward`` (an ASGI app, so that the request's ticket is handed
        back only once its answer is sent: the answer is part of its memory)."""
        request = Request(scope, receive)
        ticket: Ticket | None = None
        try:
            response, ticket = await self._answer(request)
            await response(scope, receive, send)
        finally:
            if ticket is not None:
                self.admission.release(ticket)

    async def _answer(self, request: Request) -> tuple[Response, Ticket | None]:
        try:
            length = self._content_length(request)
        except RequestError as exc:
            return self._refuse(request, exc.status, exc.message, close=True), None
        try:
            ticket = await self.admission.admit(admission_cost(length))
        except Refused as exc:
            if exc.too_large:
                return self._refuse(
                    request, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, exc.reason, close=True
                ), None
            # Not closed: the body is then read and dropped, so that the client gets this answer.
            refusal = self._refuse(
                request, HTTPStatus.SERVICE_UNAVAILABLE, exc.reason, close=False, retry=True
            )
            return refusal, None
        try:
            return await self._admitted(request, request.url.path, length, ticket), ticket
        except BaseException:
            self.admission.release(ticket)
            raise

    async def _admitted(self, request: Request, path: str, length: int, ticket: Ticket) -> Response:
        try:
            body = BodyBuffer(await self._read_body(request, length))
        except asyncio.TimeoutError:
            return self._refuse(
                request,
                HTTPStatus.REQUEST_TIMEOUT,
                f"the body did not arrive within {self.settings.read_timeout:g} s (--read-timeout)",
                close=True,
            )
        except _ClientGone as exc:
            self.refused[499] += 1
            logger.warning("dropped %s %s from %s: %s", request.method, path, _client(request), exc)
            return Response(status_code=400)  # nobody reads it
        except RequestError as exc:
            return self._refuse(request, exc.status, exc.message, close=True)
        try:
            if length <= _MEASURE_ON_LOOP_BYTES:
                cost = request_cost(body.peek(), self.settings.max_items)
            else:
                cost = await self._in_thread(request_cost, body.peek(), self.settings.max_items)
            self.admission.resize(ticket, cost)
            status, data = await self._in_thread(self.service.handle, path, body)
        except Refused as exc:
            status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if exc.too_large else HTTPStatus.SERVICE_UNAVAILABLE
            return self._refuse(request, status, exc.reason, close=False, retry=not exc.too_large)
        except RequestError as exc:
            return self._refuse(request, exc.status, exc.message, close=False)
        except Exception:
            # A bug, not bad input: answer 500 rather than dropping the connection, and keep the trace.
            logger.exception("internal error while scoring %s", path)
            return self._refuse(
                request,
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal error while scoring; see server log",
                close=True,
            )
        del body
        return Response(data, int(status), media_type="application/json")


class _RawEndpoint:
    """Starlette wraps plain functions and methods as request → response; this one needs ``send``."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def make_app(config: vr.RewardConfig | None = None, settings: ServerSettings | None = None) -> Starlette:
    """The ASGI app; serve it with :class:`video_rewards.serve.runner.BackgroundServer` or ``python -m
    video_rewards.serve``. Its lifespan starts the scoring threads, so the ASGI server must run it."""
    server = RewardServer(RewardService(config, settings))
    routes = [
        Route("/health", server.health, methods=["GET"]),
        Route("/score", _RawEndpoint(server.score), methods=["POST"]),
        Route("/get_reward", _RawEndpoint(server.score), methods=["POST"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: server.http_error}, lifespan=server.lifespan
    )
    app.state.reward_server = server
    return app
