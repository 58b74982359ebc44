"""Run jobs through submitit: in this process, on a local pool, or on SLURM.

One scheduler for the three executors: it submits the jobs whose needs are done, at most
``PoolOptions.parallel`` at a time (submitit's ``LocalExecutor`` would start every job at
once), the one with the longest estimated chain of work behind it first
(``jobs_estimate.critical_paths``: a long job or chain left for last keeps one worker busy
while the others idle), polls them, retries a failed one up to ``retries`` times, and keeps
a status file (JSON, ``<cache>/grid/<profile>.status.json``) that a later run resumes from: jobs whose
results are cached are skipped; SLURM jobs still queued are picked up again, not resubmitted.
A job that raises is reported with its cell and traceback, in the file and on screen.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sclib.experiments.cache import Cache
from sclib.experiments.collect import cached_runs
from sclib.experiments.jobs import Job, JobFailed, job_cached, run_job
from sclib.experiments.jobs_estimate import Timings, critical_paths

EXECUTORS = ("local", "slurm", "debug")


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@dataclass(frozen=True)
class PoolOptions:
    """How jobs run.

    Attributes:
        executor: ``"local"`` (a pool of processes), ``"slurm"`` or ``"debug"`` (in this
            process, one after another).
        workers: local: processes at once (default: the cores); each gets
            ``cores() // workers`` torch threads unless ``threads`` says otherwise. Many
            one-thread workers beat one many-thread process (``bench/pool.py``: 2 x 1
            against 1 x 2 on a shared 2-core machine, four tiny jobs: 3.1 times the jobs an hour).
        partition, gpus_per_job, cpus_per_job, time_min, max_parallel: SLURM's partition,
            GPUs and CPUs per job, time limit per job in minutes (local: a timeout too),
            jobs queued or running at once.
        retries: how often a failed job is submitted again.
        poll_s: seconds between looks at the running jobs.
    """

    executor: str = "local"
    workers: int = field(default_factory=lambda: cores())
    threads: int | None = None
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    time_min: int = 24 * 60
    max_parallel: int = 64
    retries: int = 1
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(
                f"unknown executor {self.executor!r}; choose one of: {', '.join(EXECUTORS)}"
            )
        for name in ("workers", "cpus_per_job", "time_min", "max_parallel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.retries < 0 or self.gpus_per_job < 0 or (self.threads or 1) < 1:
            raise ValueError("retries and gpus_per_job must be >= 0, threads >= 1")
        if self.executor == "slurm" and shutil.which("sbatch") is None:
            raise ValueError("executor 'slurm' needs sbatch on PATH (see `make slurm-up`)")

    @property
    def parallel(self) -> int:
        """Jobs running at once."""
        return {"local": self.workers, "slurm": self.max_parallel, "debug": 1}[self.executor]

    @property
    def worker_threads(self) -> int | None:
        """Torch threads per job: local, workers x threads = cores; SLURM: its CPUs."""
        if self.threads is not None:
            return self.threads
        if self.executor == "local":
            return max(1, cores() // self.workers)
        return None  # slurm: SLURM_CPUS_PER_TASK inside the job; debug: as this process


def make_executor(options: PoolOptions, folder: Path):
    """The submitit executor for ``options``, writing its logs under ``folder``."""
    import submitit

    if options.executor == "debug":
        return submitit.DebugExecutor(folder)
    if options.executor == "local":
        executor = submitit.LocalExecutor(folder)
        executor.update_parameters(timeout_min=options.time_min)
        return executor
    executor = submitit.SlurmExecutor(folder)
    params: dict[str, Any] = {
        "time": options.time_min,
        "cpus_per_task": options.cpus_per_job,
        "job_name": "sclib",
    }
    if options.partition:
        params["partition"] = options.partition
    if options.gpus_per_job:
        params["gpus_per_node"] = options.gpus_per_job
    executor.update_parameters(**params)
    return executor


def status_path(cache_dir: Path | str, profile: str) -> Path:
    """Where a profile's status file lives: ``<cache>/grid/<profile>.status.json``."""
    return Path(cache_dir) / "grid" / f"{profile}.status.json"


def read_status(path: Path) -> dict[str, dict[str, Any]]:
    """Job name -> record (state, attempts, error, submitit id, ...); empty when absent."""
    try:
        return json.loads(Path(path).read_text())["jobs"]
    except (OSError, ValueError, KeyError):
        return {}


def write_status(path: Path, records: dict[str, dict[str, Any]], options: PoolOptions) -> None:
    """Write the status file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    body = {"updated": time.strftime("%Y-%m-%d %H:%M:%S"), "executor": options.executor}
    tmp.write_text(json.dumps({**body, "jobs": records}, indent=1, default=str))
    os.replace(tmp, path)


def _initial_records(jobs: list[Job], cache: Cache, old: dict[str, dict]) -> dict[str, dict]:
    records = dict(old)  # jobs of other filters stay in the file
    for job in jobs:
        before = old.get(job.name, {})
        state = "done" if job_cached(job, cache) else "pending"
        records[job.name] = {
            "state": state,
            "attempts": 0,
            "cells": [str(c) for c in job.cells],
            "needs": list(job.needs),
            "error": None if state == "done" else before.get("error"),
            "submitit_id": before.get("submitit_id"),
        }
    return records


def _squeue_ids() -> set[str] | None:
    """Job ids SLURM still holds (pending or running); None when squeue does not answer."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.split())


def _outcome(handle, slurm: bool) -> str | None:
    """The job's error text, or None when it succeeded.

    A SLURM job that left the queue without a result (cancelled, out of time or memory, its
    node lost) is described from its log here: submitit would ask ``sacct``, which fails on
    a cluster without an accounting daemon.
    """
    if slurm and not handle.paths.result_pickle.exists():
        log = handle.paths.stderr
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        return (
            f"SLURM job {handle.job_id} left the queue without a result (cancelled, out of "
            f"time or memory, or its node failed); the end of {log}:\n{tail}"
        )
    error = handle.exception()
    if error is None:
        return None
    if isinstance(error, JobFailed) or type(error).__module__.startswith("submitit"):
        return str(error)  # it holds the cell and the traceback already
    return "".join(traceback.format_exception(error))


class _Ran:
    """A debug job, run as soon as it is submitted, with its outcome kept (submitit's
    ``DebugJob`` runs the function again whenever asked, and opens pdb on an error)."""

    def __init__(self, handle) -> None:
        self.job_id = handle.job_id
        self.error = handle.exception()

    def done(self) -> bool:
        return True

    def exception(self) -> BaseException | None:
        return self.error


class Scheduler:
    """Submits jobs as their needs finish, polls them, retries, and records everything."""

    def __init__(
        self,
        jobs: list[Job],
        cache_dir: Path | str,
        profile: str,
        options: PoolOptions,
        work: Callable[[Job, str, int | None], Any] = run_job,
    ):
        self.cache_dir, self.options = Path(cache_dir), options
        self.path = status_path(cache_dir, profile)
        self.logs = self.cache_dir / "grid" / "logs" / profile
        cache = Cache(cache_dir)
        self.records = _initial_records(jobs, cache, read_status(self.path))
        pending = [j for j in jobs if self.records[j.name]["state"] == "pending"]
        paths = critical_paths(pending, Timings.from_runs(cached_runs(cache))) if pending else {}
        ordered = sorted(jobs, key=lambda j: -paths.get(j.name, 0.0))  # stable: plan order on ties
        self.jobs, self.work = {j.name: j for j in ordered}, work
        self.executor = make_executor(options, self.logs)
        self.running: dict[str, Any] = {}  # job name -> submitit job
        self.gone_since: dict[str, float] = {}
        self.bar: tqdm | None = None

    def _say(self, text: str) -> None:
        (self.bar.write if self.bar is not None else print)(text)

    def _state(self, name: str) -> str:
        return self.records[name]["state"]

    def _reattach(self) -> None:
        """SLURM jobs a previous run left queued: watch them instead of submitting again."""
        if self.options.executor != "slurm":
            return
        queued = _squeue_ids() or set()
        import submitit

        for name, rec in self.records.items():
            if name in self.jobs and rec["state"] == "pending" and rec["submitit_id"] in queued:
                self.running[name] = submitit.SlurmJob(self.logs, rec["submitit_id"])
                rec.update(state="running", started=time.time())
                self._say(f"picked up {name} (SLURM job {rec['submitit_id']}, still queued)")

    def _submit_ready(self) -> None:
        for name, job in self.jobs.items():
            if len(self.running) >= self.options.parallel:
                return
            rec = self.records[name]
            if rec["state"] != "pending":
                continue
            failed_need = next((n for n in job.needs if self._state(n) == "failed"), None)
            if failed_need is not None:
                rec.update(state="failed", error=f"not run: it needs {failed_need!r}, which failed")
                self._say(f"failed {name}: {rec['error']}")
                continue
            if all(self._state(n) == "done" for n in job.needs):
                self._submit(name, job)

    def _submit(self, name: str, job: Job) -> None:
        rec = self.records[name]
        rec["attempts"] += 1
        handle = self.executor.submit(
            self.work, job, str(self.cache_dir), self.options.worker_threads
        )
        rec.update(state="running", submitit_id=str(handle.job_id), started=time.time())
        if self.options.executor == "debug":
            handle = _Ran(handle)
        self.running[name] = handle

    def _finished(self, name: str, handle) -> bool:
        """Whether a running job has finished (a SLURM job gone from the queue counts)."""
        if self.options.executor != "slurm":
            return handle.done()
        if handle.paths.result_pickle.exists():  # no sacct: it fails without slurmdbd
            return True
        queued = self._queued
        if queued is None or handle.job_id in queued:
            self.gone_since.pop(name, None)
            return False
        return time.time() - self.gone_since.setdefault(name, time.time()) > 30

    def _collect(self) -> bool:
        changed = False
        self._queued = _squeue_ids() if self.options.executor == "slurm" else None
        for name, handle in list(self.running.items()):
            if not self._finished(name, handle):
                continue
            changed = True
            del self.running[name]
            error = _outcome(handle, self.options.executor == "slurm")
            rec = self.records[name]
            took = time.time() - rec.pop("started", time.time())
            if error is None:
                rec.update(state="done", error=None, time_s=round(took, 1))
                self._say(f"done   {name} ({took:.0f} s)")
            elif rec["attempts"] <= self.options.retries:
                rec.update(state="pending", error=error)
                self._say(f"retry  {name} (attempt {rec['attempts']} failed): {_first(error)}")
            else:
                rec.update(state="failed", error=error)
                self._say(f"failed {name} after {rec['attempts']} attempt(s): {_first(error)}")
        return changed

    def _counts(self) -> dict[str, int]:
        states = [self._state(n) for n in self.jobs]
        return {s: states.count(s) for s in ("done", "running", "pending", "failed")}

    def run(self, progress: bool = True) -> dict[str, dict[str, Any]]:
        """Run every job not done yet; return the records of this run's jobs."""
        counts = self._counts()
        self.bar = tqdm(total=len(self.jobs), initial=counts["done"], disable=not progress,
                        desc="jobs", unit="job")  # fmt: skip
        try:
            self._reattach()
            while any(self._state(n) in ("pending", "running") for n in self.jobs):
                self._submit_ready()
                write_status(self.path, self.records, self.options)
                if self._collect():
                    write_status(self.path, self.records, self.options)
                counts = self._counts()
                self.bar.n = counts["done"]
                self.bar.set_postfix(counts, refresh=True)
                if self.running:
                    time.sleep(self.options.poll_s)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        finally:
            self.bar.close()
            write_status(self.path, self.records, self.options)
        return {n: self.records[n] for n in self.jobs}

    def _interrupted(self) -> None:
        """Stop local workers; leave SLURM jobs queued (a later run picks them up)."""
        for name, handle in self.running.items():
            if self.options.executor == "local":
                handle.cancel()
                self.records[name]["state"] = "pending"
            else:
                self.records[name]["state"] = "pending"  # submitit_id kept: reattached later
        self._say(f"interrupted; status in {self.path}; `run` again to resume")


def _first(error: str) -> str:
    """The line of an error that says what failed (the cell), else its last line."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    named = [line for line in lines if "failed at Cell(" in line]
    return (named or lines or [error])[-1 if not named else 0][:300]


def run_jobs(
    jobs: list[Job],
    cache_dir: Path | str,
    profile: str,
    options: PoolOptions,
    progress: bool = True,
    work: Callable[[Job, str, int | None], Any] = run_job,
) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` (``sclib.experiments.jobs.plan_jobs``) and return each one's record:
    ``state`` (``done`` or ``failed``), ``attempts``, ``error`` (the cell and traceback).

    ``work(job, cache_dir, threads)`` is what each job executes (``run_job``; tests and
    the bench pass their own)."""
    return Scheduler(jobs, cache_dir, profile, options, work).run(progress=progress)
