"""The local pool's throughput: N workers x 1 torch thread against 1 process x N threads.

Runs the same small set of jobs twice through ``sclib.experiments.jobs_pool`` (submitit's
local executor), each time into a fresh temporary cache, and prints jobs per hour of both
and their ratio. ``python -m sclib.grid run --executor local`` defaults to the better.

    .venv/bin/python bench/pool.py                      # tiny jobs, N = the cores
    .venv/bin/python bench/pool.py --profile quick --jobs 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

from sclib.experiments.jobs import grid_profiles, plan_jobs
from sclib.experiments.jobs_pool import PoolOptions, cores, run_jobs


def bench_jobs(profile: str, n_jobs: int):
    """``n_jobs`` base-model jobs of the vision profile (scratch ResNets, base seeds 0..n-1)."""
    (vision,) = grid_profiles(profile, ["vision"])
    vision = replace(vision, base_seeds=tuple(range(n_jobs)), regimes=("scratch",))
    return plan_jobs([vision])


def throughput(jobs, workers: int, threads: int) -> float:
    """Jobs per hour with ``workers`` processes of ``threads`` torch threads each."""
    options = PoolOptions(executor="local", workers=workers, threads=threads, poll_s=0.2)
    with tempfile.TemporaryDirectory(prefix="sclib-bench-pool-") as cache_dir:
        start = time.perf_counter()
        records = run_jobs(jobs, cache_dir, "bench", options, progress=False)
        seconds = time.perf_counter() - start
    failed = [n for n, r in records.items() if r["state"] != "done"]
    if failed:
        raise RuntimeError(f"bench jobs failed: {failed}: {records[failed[0]]['error']}")
    print(f"{workers} worker(s) x {threads} thread(s): {len(jobs)} jobs in {seconds:.0f} s")
    return len(jobs) / seconds * 3600


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--profile", default="tiny", choices=["tiny", "quick"])
    args.add_argument("--jobs", type=int, default=4, help="base-model jobs in the set")
    args.add_argument("--n", type=int, default=cores(), help="workers / threads (default: cores)")
    a = args.parse_args()
    jobs = bench_jobs(a.profile, a.jobs)
    pool = throughput(jobs, workers=a.n, threads=1)
    single = throughput(jobs, workers=1, threads=a.n)
    print(
        f"{a.profile}: {a.n} workers x 1 thread {pool:.0f} jobs/h, 1 worker x {a.n} threads "
        f"{single:.0f} jobs/h; ratio pool/single = {pool / single:.2f}"
    )


if __name__ == "__main__":
    main()
