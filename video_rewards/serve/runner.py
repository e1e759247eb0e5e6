"""Serving the app with uvicorn: in the foreground (the CLI) or in a background thread (tests, benchmarks).

uvicorn runs its pure-Python ``h11`` HTTP parser here on purpose: it rejects conflicting
``Content-Length`` headers itself (400) and needs no compiled extra.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

import video_rewards as vr
from video_rewards.serve.app import make_app
from video_rewards.serve.service import ServerSettings

__all__ = ["BackgroundServer", "bind", "uvicorn_server"]

# Many clients connect at once under load (one per rollout worker); a short backlog makes their
# connects fail with ECONNREFUSED on a busy server.
_BACKLOG = 1024
# Seconds an idle keep-alive connection stays open between requests.
_KEEP_ALIVE = 5


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``port=0`` picks a free port; read it with ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(
    config: vr.RewardConfig | None, settings: ServerSettings, *, log_level: str = "warning"
) -> uvicorn.Server:
    app = make_app(config, settings)
    uv_config = uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        lifespan="on",
        log_config=None,  # the CLI configures logging; uvicorn's loggers propagate to it
        log_level=log_level.lower(),
        access_log=False,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=_KEEP_ALIVE,
        backlog=_BACKLOG,
    )
    return uvicorn.Server(uv_config)


class BackgroundServer:
    """The server on a loopback port in a daemon thread; a context manager.

    >>> with BackgroundServer() as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        config: vr.RewardConfig | None = None,
        settings: ServerSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.settings = settings or ServerSettings()
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn_server(config, self.settings)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="reward-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError("the reward server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
