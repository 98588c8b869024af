"""``furet serve``: one process, or one acceptor handing connections to several workers.

A Python process runs Python code on one core at a time (the GIL), so several worker processes
are needed to use several cores. How connections reach them decides how evenly they are loaded:
uvicorn's own ``--workers`` share one listening socket, and the first worker to wake accepts a
whole burst of keep-alive connections (measured with 20 clients: one worker got all 20); one
``SO_REUSEPORT`` socket per worker spreads them by a hash of the client's address (uneven for
a few clients; measured: a worker still starting got none of 20). Here the parent process
listens, accepts, and hands each connection (its file descriptor, over a Unix socket) to the
worker holding the fewest open connections; a worker tells the parent when one of its
connections closes. Each worker is a uvicorn server without a listening socket of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

from furet.errors import InvalidInputError
from furet.settings import Settings

#: Environment variable carrying the settings (JSON) to worker processes.
SETTINGS_ENV = "FURET_SERVE_SETTINGS"
#: Byte a worker sends its parent when one of its connections closed.
CLOSED = b"c"


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        ) from None
    return sock


def _config(settings: Settings) -> Any:
    import uvicorn

    from furet.web.app import create_app
    from furet.web.redaction import log_config

    return uvicorn.Config(create_app(settings), log_level="info", log_config=log_config())


def _one_thread_per_request() -> None:
    """torch and BLAS run a request's small products on the request's own thread.

    A server's parallelism is its concurrent requests (and the scans' own thread pool). Their
    pool threads spin-wait after every parallel region, burning the cores other requests need:
    measured with one client doing rounds, 91 ms of CPU a round with torch's default threads,
    25 ms with one (and no slower)."""
    import scipy.linalg  # noqa: F401  (its own OpenBLAS: limits reach loaded libraries only)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _run(settings: Settings, sock: socket.socket) -> None:
    import uvicorn

    _one_thread_per_request()
    uvicorn.Server(_config(settings)).run(sockets=[sock])


def _worker(channel: socket.socket) -> None:
    """A worker process: serves the connections its parent sends over ``channel``."""
    import uvicorn

    class HandedServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # no listening socket: connections come by hand
            if self.started:
                _receive_connections(self, channel)

    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    _one_thread_per_request()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        HandedServer(_config(settings)).run()


def _receive_connections(server: Any, channel: socket.socket) -> None:
    """Serve every connection (file descriptor) that arrives on ``channel`` with ``server``'s
    HTTP protocol; report each one's close back on ``channel``."""
    config = server.config
    loop = asyncio.get_running_loop()
    base = config.http_protocol_class

    class Reported(base):  # type: ignore[valid-type, misc]
        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            with contextlib.suppress(OSError):  # the parent is gone: we are stopping anyway
                channel.send(CLOSED)

    def protocol() -> asyncio.Protocol:
        return Reported(
            config=config, server_state=server.server_state, app_state=server.lifespan.state
        )

    starting: set[asyncio.Task[object]] = set()

    def arrived() -> None:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 64, 64)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:  # the parent is gone (even killed): stop, as its other workers do
            loop.remove_reader(channel.fileno())
            server.should_exit = True
            return
        for fd in fds:
            conn = socket.socket(fileno=fd)
            conn.setblocking(False)
            task = loop.create_task(loop.connect_accepted_socket(protocol, conn))
            starting.add(task)  # held until it ran (the loop keeps only weak references)
            task.add_done_callback(starting.discard)

    channel.setblocking(False)
    loop.add_reader(channel.fileno(), arrived)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the spawn context
    channel: socket.socket
    open: int = 0  # connections handed to it and not yet reported closed


def _dispatch(listener: socket.socket, workers: list[_Worker], asked: list[int]) -> None:
    """Accept connections and hand each to the least loaded worker, until a signal or a
    worker's death."""
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    for w in workers:
        w.channel.setblocking(False)
        sel.register(w.channel, selectors.EVENT_READ, w)
    while not asked and all(w.process.is_alive() for w in workers):
        for key, _ in sel.select(timeout=0.2):
            if key.data is None:
                _accept(listener, workers)
            else:
                w = key.data
                with contextlib.suppress(BlockingIOError):
                    w.open = max(0, w.open - len(w.channel.recv(4096)))
    sel.close()


def _accept(listener: socket.socket, workers: list[_Worker]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # none waiting (BlockingIOError), or the client reset it meanwhile
            return
        with conn:
            target = min(workers, key=lambda w: w.open)
            try:
                socket.send_fds(target.channel, [b"n"], [conn.fileno()])
                target.open += 1
            except OSError:  # the worker is going away; the supervisor loop notices
                pass


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve the app on ``host:port`` with ``workers`` processes until interrupted."""
    listener = _bind(host, port)  # fails early (port taken, bad host) before any worker starts
    shown = f"[{host}]" if ":" in host else host
    print(
        f"furet: serving http://{shown}:{port} with {workers} worker(s); Ctrl+C stops",
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        _run(settings, listener)
        return
    listener.listen(2048)
    share = max(1, (os.cpu_count() or 1) // workers)  # the workers share the cores
    if settings.scan_threads == 0:
        settings = settings.model_copy(update={"scan_threads": share})
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    spawn = multiprocessing.get_context("spawn")
    pool = []
    for _ in range(workers):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = spawn.Process(target=_worker, args=(theirs,))
        process.start()
        theirs.close()
        pool.append(_Worker(process, ours))

    asked: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)
        for w in pool:
            if w.process.is_alive() and w.process.pid is not None:
                os.kill(w.process.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # A worker that dies takes the others down: a half-served port is worse than a clear exit.
    _dispatch(listener, pool, asked)
    listener.close()
    if not asked:
        dead = next(w.process for w in pool if not w.process.is_alive())
        print(f"furet serve: worker {dead.pid} exited ({dead.exitcode}); stopping", file=sys.stderr)
        stop(signal.SIGTERM, None)
        asked.clear()
    for w in pool:
        w.process.join(10)
        if w.process.is_alive():
            w.process.kill()
        w.channel.close()
    sys.exit(0 if asked else 1)
