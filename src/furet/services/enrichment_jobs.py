"""Enrichment jobs as files: ``home/enrichments/<job_id>.json``, readable from every process.

A job is written when it is submitted (``queued``), while it runs (``running``, with its
progress after every committed block) and when it ends (``done``, ``failed`` or ``cancelled``).
Its runner's process id (and start time) are in the file: a job whose runner died (kill -9, a
server stopped) reads as ``interrupted``; running the same enrichment again resumes its work
(the tags store knows which rows were committed). Cancelling drops a ``<job_id>.cancel`` file
that the runner checks between blocks, so any process may cancel any job.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from furet.errors import InvalidInputError, NotFoundError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
#: What a queued or running job whose runner is gone reads as.
INTERRUPTED = "interrupted"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
FINISHED = (DONE, FAILED, CANCELLED)
JOB_ID = re.compile(r"^[0-9a-f]{16}$")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def finite(x: float | None) -> float | None:
    """``x``, or None for NaN and infinities (which JSON cannot carry)."""
    return None if x is None or not math.isfinite(x) else float(x)


def process_start(pid: int) -> str:
    """When process ``pid`` started (Linux ``/proc``; empty elsewhere): tells a live runner
    from another process that got its pid later. ``zombie`` for a dead, unreaped one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return "zombie" if fields[0] in ("Z", "X") else fields[19]


@dataclass
class ClassJob:
    """One class of a job: what is applied, then what the run found."""

    class_id: int
    name: str
    owner: str
    space: str
    version: int
    #: ``precision``, ``threshold`` or ``top`` and its value.
    rule: str
    value: float
    floor: float
    curve: list[float] | None = None
    #: Items this job scored for the class (0: its tags were up to date).
    scored: int = 0
    threshold: float | None = None
    tags: int | None = None
    precision: float | None = None
    #: Standard deviation of the estimated precision.
    precision_sd: float | None = None
    expected_positives: float | None = None
    #: Rows kept (every item scoring at least ``floor``).
    rows: int | None = None
    warning: str | None = None


@dataclass
class Job:
    job_id: str
    user_id: int
    user: str
    collection: str
    collection_id: int
    classes: list[ClassJob]
    state: str = QUEUED
    done: int = 0
    total: int | None = None
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    #: The first pass: ``half`` (a half-precision product, blocks read from the segment
    #: files) or ``int8`` (the codes a server built, over its matrix).
    scan: str = ""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    proc_start: str = field(default_factory=lambda: process_start(os.getpid()))

    def as_json(self) -> dict[str, object]:
        """The job as the API and ``--json`` show it (no runner details)."""
        fraction = 1.0 if self.state == DONE else (self.done / self.total if self.total else 0.0)
        return {
            "enrichment_id": self.job_id,
            "state": self.state,
            "collection": self.collection,
            "user": self.user,
            "progress": {"done": self.done, "total": self.total, "fraction": round(fraction, 4)},
            "classes": [
                {
                    "class_id": c.class_id,
                    "name": c.name,
                    "owner": c.owner,
                    "space": c.space,
                    "version": c.version,
                    "rule": {c.rule: c.value},
                    "floor": finite(c.floor),
                    "threshold": finite(c.threshold),
                    "tags": c.tags,
                    "estimated_precision": finite(c.precision),
                    "precision_sd": finite(c.precision_sd),
                    "expected_positives": finite(c.expected_positives),
                    "rows": c.rows,
                    "scored": c.scored,
                    "warning": c.warning,
                }
                for c in self.classes
            ],
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "scan": self.scan,
        }


def new_job_id() -> str:
    return secrets.token_hex(8)


class JobStore:
    """The job files of a data home."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, job_id: str, suffix: str = ".json") -> Path:
        if not JOB_ID.match(job_id):
            raise NotFoundError(f"no enrichment {job_id!r}")
        return self.root / f"{job_id}{suffix}"

    def save(self, job: Job) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{job.job_id}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(asdict(job)))
        os.replace(tmp, self._path(job.job_id))

    def load(self, job_id: str) -> Job:
        """The job, its state as it stands (``interrupted`` if its runner is gone)."""
        try:
            raw = json.loads(self._path(job_id).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"no enrichment {job_id!r}") from None
        raw["classes"] = [ClassJob(**c) for c in raw["classes"]]
        job = Job(**raw)
        if job.state in (QUEUED, RUNNING) and not self._runner_alive(job):
            job.state = INTERRUPTED
        return job

    def jobs(self, user_id: int | None = None, limit: int = 100) -> list[Job]:
        """The latest ``limit`` jobs (of ``user_id``), newest first."""
        if not self.root.exists():
            return []
        paths = sorted(
            (p for p in self.root.glob("*.json") if JOB_ID.match(p.stem)),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        out = []
        for p in paths:
            try:
                job = self.load(p.stem)
            except (NotFoundError, ValueError, TypeError, KeyError):
                continue  # removed meanwhile, or not a job file
            if user_id is None or job.user_id == user_id:
                out.append(job)
                if len(out) >= limit:
                    break
        return out

    def request_cancel(self, job_id: str) -> None:
        self._path(job_id, ".cancel").touch()

    def cancel_requested(self, job_id: str) -> bool:
        return self._path(job_id, ".cancel").exists()

    @staticmethod
    def _runner_alive(job: Job) -> bool:
        if job.host != socket.gethostname():
            return True  # another machine's process: cannot tell, trust the file
        try:
            os.kill(job.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, someone else's
        return not job.proc_start or process_start(job.pid) == job.proc_start


def check_state(state: str) -> str:
    if state not in STATES:
        raise InvalidInputError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    return state
