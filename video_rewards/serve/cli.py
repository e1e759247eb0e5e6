"""``python -m video_rewards.serve``: flags, start-up checks, then uvicorn in the foreground.

Importable without the ``serve`` extra, so that ``--help`` and a clear "install the extra" message work
from the light install.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import sys
from collections.abc import Sequence

import video_rewards as vr
from video_rewards.serve.service import ServerSettings

__all__ = ["main"]

logger = logging.getLogger("video_rewards.serve")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _return_freed_bodies_to_the_os() -> None:
    """Keep every allocation of 1 MiB or more (bodies, their text, long strings) in its own mapping.

    glibc raises its mmap threshold (up to 32 MiB) each time such a block is freed; bodies are then
    carved from the heap, and what is freed there stays in the process's resident memory. A fixed
    threshold gives each body's memory back to the OS when the request is done (measured: 12 clients x
    31 MiB at --max-concurrency 2 grew the server by 128 MiB instead of 189 MiB). No-op outside glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold = -3  # from <malloc.h>
    mallopt(m_mmap_threshold, 1 << 20)


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
    fields = ServerSettings.model_fields

    def setting(flag: str, name: str, kind: type, default: object) -> None:
        suffix = "" if default is None else " (default: %(default)s)"
        parser.add_argument(flag, type=kind, default=default, help=f"{fields[name].description}{suffix}")

    setting("--max-request-bytes", "max_request_bytes", int, defaults.max_request_bytes)
    setting("--max-items", "max_items", int, defaults.max_items)
    setting("--max-concurrency", "max_concurrency", int, defaults.max_concurrency)
    setting("--memory-budget-bytes", "memory_budget_bytes", int, None)
    setting("--admission-wait", "admission_wait", float, defaults.admission_wait)
    setting("--read-timeout", "read_timeout", float, defaults.read_timeout)
    setting("--max-connections", "max_connections", int, defaults.max_connections)
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
            memory_budget_bytes=args.memory_budget_bytes,
            admission_wait=args.admission_wait,
            read_timeout=args.read_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as exc:  # pydantic's ValidationError and JSONDecodeError are ValueErrors
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        from video_rewards.serve.runner import bind, uvicorn_server
    except ImportError as exc:
        sys.stderr.write(
            f"error: the reward server needs the serve extra (missing {exc.name}): "
            "pip install 'video-rlt[serve]'\n"
        )
        return 2
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 2
    host, port = sock.getsockname()[:2]
    _return_freed_bodies_to_the_os()
    if args.host not in _LOOPBACK:
        logger.warning("listening on %s: the reward server has no authentication", args.host)
    logger.info(
        "serving video rewards (version %s) on http://%s:%s (at most %d requests and %d bytes of memory "
        "budget at once)",
        vr.REWARD_VERSION,
        host,
        port,
        settings.max_concurrency,
        settings.effective_memory_budget,
    )
    try:
        uvicorn_server(config, settings, log_level=args.log_level).run(sockets=[sock])
    finally:
        sock.close()
    return 0
