"""Load test of the HTTP API: concurrent clients doing rounds over a synthetic collection.

Run by hand (prints JSON):

    .venv/bin/python benchmarks/api_load.py --items 100000 --clients 20 --seconds 30

It builds a data home with ``--items`` synthetic vectors (clustered, L2-normalised, written as
segments plus catalog rows exactly as ingestion commits them), starts the real server
(``furet serve`` in a subprocess, on 127.0.0.1 only), gives every client its own user, API key
and class, and has each client loop: label two items of its last page, ask for the next round (two
requests, or one with ``--marks inline``).
The run is bounded by ``--seconds`` and ``--max-rounds`` per client.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import insert

import furet
from furet.catalog.accounts import AccountStore
from furet.catalog.schema import EmbeddingRow, FileRow, ItemRow, utcnow
from furet.embedders import get_spec
from furet.settings import Settings

SEGMENT = 20_000


def build_home(home: Path, items: int, model: str, clusters: int, seed: int) -> np.ndarray:
    """A collection ``synthetic`` of ``items`` vectors; returns the ``(items,)`` cluster ids."""
    settings = Settings(home=home)
    f = furet.open(settings=settings)
    col = f.create_collection("synthetic", model)
    dim = get_spec(model).dim
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    cluster_of = rng.integers(0, clusters, items)
    store = col.store()
    for start in range(0, items, SEGMENT):
        n = min(SEGMENT, items - start)
        ids = f.catalog.allocate_ids(n)
        v = centres[cluster_of[start : start + n]] + 1.5 * rng.standard_normal((n, dim)).astype(
            np.float32
        )
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        name = store.write(ids, v.astype(np.float16))
        # Bulk rows, as Catalog.commit_files would write them one file at a time (too slow
        # for 100k synthetic files); ids are fresh so file_id = item_id cannot clash.
        now = utcnow()
        cid = col.collection_id
        with f.catalog.sessions.begin() as s:
            s.execute(
                insert(FileRow),
                [
                    {
                        "file_id": int(i),
                        "collection_id": cid,
                        "path": f"/synthetic/{int(i)}.jpg",
                        "size": 1,
                        "mtime_ns": 1,
                        "status": "ok",
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(ItemRow),
                [
                    {
                        "item_id": int(i),
                        "collection_id": cid,
                        "file_id": int(i),
                        "kind": "image",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(EmbeddingRow),
                [{"item_id": int(i), "space": model, "segment": name} for i in ids],
            )
    return cluster_of


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up")


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _post(conn: http.client.HTTPConnection, key: str, path: str, body: object) -> tuple[int, bytes]:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    conn.request("POST", path, json.dumps(body), headers)
    r = conn.getresponse()
    return r.status, r.read()


class _Client:
    """One simulated user on its own keep-alive connection: HTTP/1.1 by hand (requests are
    small and uvicorn's responses carry a Content-Length)."""

    def __init__(self, index: int, key: str, cid: int, target: int, page: list, port: int):
        self.index, self.key, self.cid, self.target, self.page = index, key, cid, target, page
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.phase = ""
        self.sent_at = 0.0
        self.buffer = b""
        self.rounds = 0

    def send(self, phase: str, path: str, body: object) -> None:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.phase = phase
        self.sent_at = time.perf_counter()
        self.sock.sendall(head.encode() + payload)  # small: the socket buffer takes it at once

    def receive(self) -> tuple[int, bytes, float] | None:
        """(status, body, milliseconds) once a whole response arrived, else None."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise SystemExit(f"client {self.index}: the server closed the connection")
        self.buffer += chunk
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return None
        took_ms = (time.perf_counter() - self.sent_at) * 1e3
        data = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        return int(head[0].split()[1]), data, took_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-rounds", type=int, default=200, help="per client")
    ap.add_argument("--page-size", type=int, default=15)
    ap.add_argument("--mode", default="search", help="selection mode of every round")
    ap.add_argument(
        "--think", type=float, default=0.0, help="seconds a client waits after each round"
    )
    ap.add_argument(
        "--marks",
        choices=("separate", "inline"),
        default="separate",
        help="separate: POST .../labels then POST .../rounds; inline: the marks ride in the "
        "round request (one request a round)",
    )
    ap.add_argument("--workers", type=int, default=1, help="server processes (furet serve)")
    ap.add_argument("--model", default="lite0", help="sets the dimension (lite0: 1280)")
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--home", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", type=Path, help="record the server with py-spy into this file")
    args = ap.parse_args()
    if not 1 <= args.clients <= 200 or args.seconds > 600:
        raise SystemExit("bounded test: 1..200 clients, at most 600 s")

    home = args.home or Path(tempfile.mkdtemp(prefix="furet-load-"))
    saved = home / "load-setup.json"
    t0 = time.perf_counter()
    if saved.exists():  # --home of an earlier run: same items, users and keys
        setup = json.loads(saved.read_text())
        cluster_of = np.asarray(setup["cluster_of"])
        keys = setup["keys"]
        if len(keys) < args.clients or len(cluster_of) != args.items:
            raise SystemExit(f"{home} was built for other --items/--clients; use a new --home")
    else:
        cluster_of = build_home(home, args.items, args.model, args.clusters, args.seed)
        accounts = AccountStore(furet.open(settings=Settings(home=home)).catalog.sessions)
        keys = []
        for c in range(args.clients):
            user = accounts.create_user(f"load{c}", "load-password", daily_quota=1_000_000)
            keys.append(accounts.create_key(user.user_id, "load")[1])
        saved.write_text(json.dumps({"cluster_of": cluster_of.tolist(), "keys": keys}))
    build_s = time.perf_counter() - t0
    f = furet.open(settings=Settings(home=home))
    item_ids = f.collection("synthetic").matrix().item_ids
    cluster_by_id = dict(zip(item_ids.tolist(), cluster_of.tolist(), strict=True))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FURET_HOME": str(home)}
    profile = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--format",
        "raw",
        "-o",
        str(args.profile),
        "--",
    ]
    server = subprocess.Popen(
        [
            *(profile if args.profile else []),
            sys.executable,
            "-m",
            "furet.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    round_ms: list[float] = []
    server_ms: list[float] = []
    label_ms: list[float] = []
    errors: list[str] = []
    try:
        wait_up(url, server)
        rng = np.random.default_rng(args.seed)
        run_tag = time.strftime("%Y%m%d%H%M%S")
        body = {"mode": args.mode, "page_size": args.page_size}
        clients = []
        for i in range(args.clients):  # set up one at a time (untimed): class and first page
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            target = i % args.clusters
            seeds = rng.choice(item_ids[cluster_of == target], 3, replace=False).tolist()
            status, data = _post(
                conn,
                keys[i],
                "/v1/classes",
                {"name": f"class{i}-{run_tag}", "collection": "synthetic", "item_ids": seeds},
            )
            if status != 201:
                raise SystemExit(f"creating a class: {status} {data[:300]!r}")
            cid = json.loads(data)["class_id"]
            page = json.loads(_post(conn, keys[i], f"/v1/classes/{cid}/rounds", body)[1])["page"]
            conn.close()
            clients.append(_Client(i, keys[i], cid, target, page, port))

        def next_request(c: _Client) -> None:
            """Two marks, one from each end of the page, as a user would; then the round."""
            marks: dict[str, list[int]] = {"positive": [], "negative": []}
            for p in (c.page[0], c.page[-1]):
                same = cluster_by_id[p["item_id"]] == c.target
                marks["positive" if same else "negative"].append(p["item_id"])
            if args.marks == "separate":
                c.send("labels", f"/v1/classes/{c.cid}/labels", marks)
            else:
                c.send("rounds", f"/v1/classes/{c.cid}/rounds", {**body, "labels": marks})

        def answered(c: _Client, status: int, data: bytes, took_ms: float) -> bool:
            """Handles a response; True when the client's round is complete."""
            if c.phase == "labels":
                if status != 200:
                    errors.append(f"labels {status} {data[:200]!r}")
                label_ms.append(took_ms)
                c.send("rounds", f"/v1/classes/{c.cid}/rounds", body)
                return False
            if status != 200:
                errors.append(f"round {status} {data[:200]!r}")
                return True
            result = json.loads(data)
            round_ms.append(took_ms)
            server_ms.append(float(result["round_ms"]))
            c.page = result["page"] or c.page
            return True

        # One thread drives every client (non-blocking sockets): the load generator shares the
        # machine's cores with the server, so it must cost as little as possible, and a thread
        # per client would add its own scheduling delays to the latencies it measures.
        started = time.perf_counter()
        deadline = time.monotonic() + args.seconds
        sel = selectors.DefaultSelector()
        waiting: list[tuple[float, int]] = []  # (monotonic time, client) pauses (--think)
        for c in clients:
            sel.register(c.sock, selectors.EVENT_READ, c)
            next_request(c)
        active = len(clients)
        while active:
            now = time.monotonic()
            while waiting and waiting[0][0] <= now:
                next_request(clients[heapq.heappop(waiting)[1]])
            timeout = max(0.0, waiting[0][0] - now) if waiting else 1.0
            for key, _ in sel.select(timeout):
                c = key.data
                response = c.receive()
                if response is None:
                    continue
                status, data, took_ms = response
                if not answered(c, status, data, took_ms):
                    continue
                c.rounds += 1
                if time.monotonic() >= deadline or c.rounds >= args.max_rounds:
                    sel.unregister(c.sock)
                    c.sock.close()
                    active -= 1
                elif args.think > 0:
                    heapq.heappush(waiting, (time.monotonic() + args.think, c.index))
                else:
                    next_request(c)
            if time.monotonic() > deadline + 120:
                raise SystemExit("clients still waiting 120 s after the end: server stuck?")
        sel.close()
        wall = time.perf_counter() - started
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    rounds_metric = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("furet_rounds_total")
    )
    print(
        json.dumps(
            {
                "items": args.items,
                "dim": get_spec(args.model).dim,
                "clients": args.clients,
                "workers": args.workers,
                "mode": args.mode,
                "marks": args.marks,
                "think_seconds": args.think,
                "cpus": os.cpu_count(),
                "seconds": round(wall, 1),
                "build_seconds": round(build_s, 1),
                "rounds": len(round_ms),
                "errors": len(errors),
                "first_errors": errors[:3],
                "round_latency_ms": {
                    "p50": percentile(round_ms, 50),
                    "p95": percentile(round_ms, 95),
                    "p99": percentile(round_ms, 99),
                },
                "round_server_ms": {
                    "p50": percentile(server_ms, 50),
                    "p95": percentile(server_ms, 95),
                },
                "label_latency_ms": {
                    "p50": percentile(label_ms, 50),
                    "p95": percentile(label_ms, 95),
                },
                "rounds_per_second": round(len(round_ms) / wall, 1) if wall else None,
                "server_rounds_counted": rounds_metric,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
