"""The pool's order, replayed: when would the quick prefetch end in plan order, and in the
order the scheduler uses (the ready job with the longest estimated chain behind it first)?

Replays ``make figures``' prefetch jobs (``sclib.notebooks``: notebooks 02-04's grid, the
ladder, the probes, notebook 07's sparse runs; ``--sparsity-domains`` as the CI smoke test
passes them) on ``--workers`` workers, each job taking the seconds it took in a measured
clean run (``data/results/quick_job_times.csv``: one-thread pool workers, from the prefetch's
own "done" lines), a job starting once its needs are done. The priorities are
``sclib.experiments.jobs_estimate.critical_paths`` from estimates alone (no timings cached),
as on a clean cache; "with the measured times" shows what perfect estimates would give. The
ideal is the work divided by the workers.

    python bench/pool_order.py [--sparsity-domains vision] [--workers 2]
"""

from __future__ import annotations

import argparse

import pandas as pd

from sclib.experiments.jobs import plan_jobs
from sclib.experiments.jobs_estimate import Timings, critical_paths
from sclib.experiments.probe import probe_jobs
from sclib.notebooks import ladder_prefetch, sparsity_prefetch
from sclib.paths import RESULTS_DIR
from sclib.stats.vocabulary import REGIMES

TIMES = RESULTS_DIR / "quick_job_times.csv"


def prefetch_jobs(workers: int, sparsity_domains: list[str] | None) -> list:
    """The jobs ``sclib.notebooks.prefetch("quick", workers, sparsity_domains)`` runs."""
    jobs = plan_jobs("quick", regimes=REGIMES)
    jobs += ladder_prefetch(jobs, workers) + probe_jobs(jobs)
    return jobs + sparsity_prefetch("quick", sparsity_domains)


def replay(
    jobs: list, seconds: dict[str, float], priority: dict[str, float], workers: int
) -> float:
    """When the last job ends if each free worker takes the ready job of highest priority."""
    needs = {job.name: set(job.needs) for job in jobs}
    waiting = sorted(needs, key=lambda name: -priority[name])  # stable: plan order on ties
    done: set[str] = set()
    running: list[tuple[float, str]] = []
    now = 0.0
    while waiting or running:
        for name in list(waiting):
            if len(running) < workers and needs[name] <= done:
                running.append((now + seconds[name], name))
                waiting.remove(name)
        running.sort()
        now, name = running.pop(0)
        done.add(name)
    return now


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--workers", type=int, default=2)
    cli.add_argument("--sparsity-domains", nargs="*", default=None)
    args = cli.parse_args()
    if args.workers < 1:
        cli.error(f"--workers must be at least 1, got {args.workers}")
    jobs = prefetch_jobs(args.workers, args.sparsity_domains)
    measured = pd.read_csv(TIMES).set_index("job")["seconds"].to_dict()
    unknown = [job.name for job in jobs if job.name not in measured]
    if unknown:
        raise SystemExit(f"no measured time in {TIMES.name} for: {', '.join(unknown)}")
    seconds = {job.name: float(measured[job.name]) for job in jobs}
    plan_order = {job.name: -i for i, job in enumerate(jobs)}
    estimated = critical_paths(jobs, Timings.from_runs(pd.DataFrame()))
    exact = critical_paths(jobs, _Measured(seconds))
    work = sum(seconds.values())
    print(f"{len(jobs)} jobs, {work:.0f} s of work on {args.workers} workers "
          f"(ideal {work / args.workers:.0f} s); the last job ends at:")  # fmt: skip
    for label, priority in (
        ("plan order", plan_order),
        ("critical path, estimated (the scheduler)", estimated),
        ("critical path, with the measured times", exact),
    ):
        print(f"  {label:<42} {replay(jobs, seconds, priority, args.workers):6.0f} s")
    return 0


class _Measured:
    """Answers each job's measured seconds where ``critical_paths`` asks for an estimate."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def estimate(self, job) -> tuple[float, str]:
        return self.seconds[job.name], "cpu"


if __name__ == "__main__":
    raise SystemExit(main())
