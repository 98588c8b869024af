"""`furet serve --workers N`: several processes answer on one port, evenly, and stop together."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import free_port


def children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def sockets_on(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets whose local port is ``port`` in ``state`` (hex, /proc/net)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def held_by(pid: int, inodes: set[str]) -> int:
    """How many of ``inodes`` process ``pid`` holds open."""
    try:
        links = {p.readlink().name for p in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        return 0
    return sum(f"socket:[{i}]" in links for i in inodes)


LISTEN, ESTABLISHED = "0A", "01"


def get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


@contextlib.contextmanager
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``furet serve --workers 2`` on a free port, once it answers; killed at the end."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "furet.cli.main", "--home", str(tmp_path / "home")]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", str(port), "--workers", "2"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 90
        while len(children(proc.pid)) < 2 or not sockets_on(port, LISTEN):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def test_workers_get_the_connections_evenly_and_stop_together(tmp_path: Path) -> None:
    conns: list[http.client.HTTPConnection] = []
    with two_workers(tmp_path) as (proc, port):
        # 20 keep-alive connections, each answered once and kept open: 10 on each worker
        # (the parent hands each new connection to the worker holding the fewest).
        for _ in range(20):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
            assert get(conn, "/healthz") == 200
            conns.append(conn)
        workers = children(proc.pid)
        open_by = {w: held_by(w, sockets_on(port, ESTABLISHED)) for w in workers}
        assert sorted(open_by.values())[-2:] == [10, 10], open_by
        assert held_by(proc.pid, sockets_on(port, ESTABLISHED)) == 0  # handed over, not kept
        # A worker reports its closed connections: after closing 6 of one worker's, the next
        # 6 new connections all go to it.
        busy = max(open_by, key=lambda w: open_by[w])
        established = sockets_on(port, ESTABLISHED)
        theirs = [c for c in conns if held_by(busy, {_inode(c, port)} & established)]
        for conn in theirs[:6]:
            conn.close()
        deadline = time.monotonic() + 10
        while held_by(busy, sockets_on(port, ESTABLISHED)) != 4:
            assert time.monotonic() < deadline, "the closed connections stayed open"
            time.sleep(0.1)
        time.sleep(0.3)  # the worker's reports reach the parent
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
            assert get(conn, "/healthz") == 200
            conns.append(conn)
        assert held_by(busy, sockets_on(port, ESTABLISHED)) == 10
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{w}").exists() for w in workers):
            assert time.monotonic() < deadline, "a worker outlived serve"
            time.sleep(0.2)
    for conn in conns:
        conn.close()


def _inode(conn: http.client.HTTPConnection, port: int) -> str:
    """Inode of the server side of the client connection ``conn``."""
    assert conn.sock is not None
    client_port = conn.sock.getsockname()[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.rsplit(":", 1)[1], 16) == port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return fields[9]
    raise AssertionError(f"no server socket for client port {client_port}")


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "furet.cli.main",
                "--home",
                str(tmp_path / "h"),
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    assert str(port) in out.stderr + out.stdout


def test_workers_stop_when_serve_is_killed(tmp_path: Path) -> None:
    """Even a SIGKILLed parent (no chance to stop them) leaves no worker behind."""
    with two_workers(tmp_path) as (proc, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        assert get(conn, "/healthz") == 200  # the workers are up
        conn.close()
        workers = children(proc.pid)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{w}").exists() for w in workers):
            assert time.monotonic() < deadline, "a worker outlived its killed parent"
            time.sleep(0.2)


def test_a_dead_worker_stops_serve(tmp_path: Path) -> None:
    """A half-served port is worse than a clear exit: one worker dying stops them all."""
    with two_workers(tmp_path) as (proc, _port):
        workers = children(proc.pid)
        spawned = [w for w in workers if b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()]
        assert len(spawned) == 2  # not multiprocessing's resource tracker
        os.kill(spawned[0], signal.SIGKILL)
        assert proc.wait(30) == 1
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{w}").exists() for w in workers):
            assert time.monotonic() < deadline, "a worker outlived serve"
            time.sleep(0.2)
    assert "exited" in (tmp_path / "serve.log").read_text()
