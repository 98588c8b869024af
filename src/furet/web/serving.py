"""``furet serve``: one process, or several sharing the port through ``SO_REUSEPORT``.

A Python process runs Python code on one core at a time (the GIL). Several worker processes
use several cores; each opens its own listening socket on the same port with ``SO_REUSEPORT``,
and the kernel spreads incoming connections across them. (uvicorn's own ``--workers`` share one
socket, and the first worker to wake accepts a whole burst of keep-alive connections: measured
with 20 clients, one worker got all 20.)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import time
from types import FrameType

from furet.errors import InvalidInputError
from furet.settings import Settings

#: Environment variable carrying the settings (JSON) to worker processes.
SETTINGS_ENV = "FURET_SERVE_SETTINGS"


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def _run(settings: Settings, sock: socket.socket) -> None:
    import uvicorn

    from furet.web.app import create_app

    config = uvicorn.Config(create_app(settings), log_level="info")
    uvicorn.Server(config).run(sockets=[sock])


def _worker(host: str, port: int) -> None:
    raw = os.environ[SETTINGS_ENV]
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        _run(Settings.model_validate_json(raw), _bind(host, port, reuse_port=True))


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the app on ``host:port`` with ``workers`` processes until interrupted."""
    if workers == 1:
        _run(settings, _bind(host, port, reuse_port=False))
        return
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux, macOS and BSDs have it
        raise SystemExit("several workers need SO_REUSEPORT, which this system lacks")
    # Fail early (port taken, bad host) before starting any worker.
    _bind(host, port, reuse_port=True).close()
    if settings.scan_threads == 0:  # the workers' scans share the cores
        cores = os.cpu_count() or 1
        settings = settings.model_copy(update={"scan_threads": max(1, cores // workers)})
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_worker, args=(host, port)) for _ in range(workers)]
    for p in procs:
        p.start()

    asked = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # A worker that dies takes the others down: a half-served port is worse than a clear exit.
    while all(p.is_alive() for p in procs):
        time.sleep(0.2)
    if not asked:
        dead = next(p for p in procs if not p.is_alive())
        print(f"furet serve: worker {dead.pid} exited ({dead.exitcode}); stopping", file=sys.stderr)
        stop(signal.SIGTERM, None)
        asked.clear()
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    sys.exit(0 if asked else 1)
