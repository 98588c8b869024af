"""`furet serve --workers N`: several processes answer on one port, and stop together."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port


def children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def listening_pids(port: int) -> set[int]:
    """Processes with a listening socket on ``port`` (from /proc, no extra tools)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {p.readlink().name for p in (proc / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{i}]" in links for i in inodes):
            pids.add(int(proc.name))
    return pids


def test_two_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "furet.cli.main", "--home", str(tmp_path / "home")]
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", str(port), "--workers", "2"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 90
        while len(listening_pids(port)) < 2:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "two workers did not start listening"
            time.sleep(0.3)
        workers = listening_pids(port)
        assert workers <= children(proc.pid)  # the listeners are serve's own processes
        statuses = []
        for _ in range(20):  # new connections: the kernel spreads them over the workers
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [200] * 20
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{w}").exists() for w in workers):
            assert time.monotonic() < deadline, "a worker outlived serve"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


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
