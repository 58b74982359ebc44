"""The grid on more than one core: ``python -m sclib.grid plan|run|collect``.

    python -m sclib.grid plan --profile quick               # what would run, what it costs
    python -m sclib.grid run --profile quick --executor local --workers 2
    python -m sclib.grid run --profile full --executor slurm --partition gpu \\
        --gpus-per-job 1 --max-parallel 32 --time-min 240 --cache-dir /shared/sclib-cache
    python -m sclib.grid collect --profile full --cache-dir /shared/sclib-cache
    python -m sclib.grid run --profile standard --seed 0            # one base seed, a chunk
    python -m sclib.grid run --profile standard --task inside_contact --architecture resnet \\
        --regime scratch,untrained --weight-density 1,0.5,0.2,0.1,0.05  # issue #16's sparse grid

``plan`` runs nothing (like ``snakemake -n``). ``run`` submits the jobs
(``sclib.experiments.jobs``) through submitit and can be run again to resume; where a
cached base model failed, the profile's spare seed stands in (``sclib.experiments.seeds``).
``collect`` writes ``data/results/<profile>/runs.csv`` (and notebook 04's mask tables beside
it) and lists what is missing or failed.
Every bad argument is reported before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sclib.experiments.cache import Cache
from sclib.experiments.jobs import GRID_PROFILES, Job, job_cached, plan_jobs
from sclib.experiments.jobs_pool import EXECUTORS, PoolOptions, cores, run_jobs, status_path
from sclib.paths import CACHE_DIR, RESULTS_DIR


def _csv(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


def _numbers(kind: type):
    def parse(text: str) -> list:
        try:
            return [kind(v) for v in _csv(text)]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}"
            ) from None

    return parse


def parser() -> argparse.ArgumentParser:
    """The command line's arguments (``python -m sclib.grid --help``)."""
    top = argparse.ArgumentParser(prog="python -m sclib.grid", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("plan", "list the jobs, what is cached, and the estimated compute; runs nothing"),
        ("run", "run the jobs not cached yet (resumes from the status file)"),
        ("collect", "merge the profile's finished runs into one table"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--profile", required=True, choices=GRID_PROFILES)
        sub.add_argument("--domain", type=_csv, help="vision, language (comma-separated)")
        sub.add_argument("--task", type=_csv, help="override the profile's tasks")
        sub.add_argument("--architecture", type=_csv, help="override its architectures")
        sub.add_argument("--regime", type=_csv, help="override its regimes")
        sub.add_argument("--seed", type=_numbers(int), help="some of its base seeds (e.g. 0)")
        sub.add_argument(
            "--weight-density",
            type=_numbers(float),
            help="sparse base models (issue #16): each job at each density in (0, 1], 1 = dense",
        )
        sub.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="default data/cache")
        if name == "run":
            _run_arguments(sub)
        if name == "collect":
            sub.add_argument("--out", type=Path, help="default data/results/<profile>/runs.csv")
    return top


def _run_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--executor", choices=EXECUTORS, default="local")
    sub.add_argument(
        "--workers", type=int, default=cores(), help="local: processes at once (default: cores)"
    )
    sub.add_argument("--threads", type=int, help=f"torch threads a job (local: {cores()}/workers)")
    sub.add_argument("--partition", help="slurm: the partition")
    sub.add_argument("--gpus-per-job", type=int, default=0)
    sub.add_argument("--cpus-per-job", type=int, default=1, help="slurm: CPUs a job")
    sub.add_argument("--max-parallel", type=int, default=64, help="slurm: jobs queued at once")
    sub.add_argument("--time-min", type=int, default=24 * 60, help="time limit a job, minutes")
    sub.add_argument("--retries", type=int, default=1, help="resubmit a failed job this often")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f}"


def plan(jobs: list[Job], cache: Cache) -> list[str]:
    """One line per job (cached or not, estimated time) and a total line."""
    from sclib.experiments.collect import cached_runs
    from sclib.experiments.jobs_estimate import Timings

    timings = Timings.from_runs(cached_runs(cache))
    lines, todo = [], {"cpu": 0.0, "gpu": 0.0}
    n_cached = 0
    for job in jobs:
        cached = job_cached(job, cache)
        seconds, device = timings.estimate(job)
        n_cached += cached
        if not cached:
            todo[device] += seconds
        what = f"{len(job.cells)} cells" if job.kind == "base" else "pretraining"
        state = "cached" if cached else f"~{seconds / 60:.0f} min {device}"
        needs = f", after {', '.join(job.needs)}" if job.needs else ""
        lines.append(f"{job.name}: {what}{needs}; {state}")
    lines.append(
        f"{len(jobs)} jobs, {n_cached} cached; to run: ~{_hours(todo['cpu'])} CPU-hours, "
        f"~{_hours(todo['gpu'])} GPU-hours (measured timings where the cache has runs of the "
        "same profile, else sclib.experiments.jobs_estimate.DEFAULT_SECONDS)"
    )
    return lines


def _run(args: argparse.Namespace, jobs: list[Job], options: PoolOptions) -> int:
    try:
        records = run_jobs(jobs, args.cache_dir, args.profile, options, progress=not args.quiet)
    except KeyboardInterrupt:
        return 130  # the scheduler has said where the status is and how to resume
    failed = {n: r for n, r in records.items() if r["state"] == "failed"}
    for name, rec in failed.items():
        print(f"\nFAILED {name}\n{rec['error']}", file=sys.stderr)
    print(
        f"{len(records) - len(failed)}/{len(records)} jobs done, {len(failed)} failed; "
        f"status: {status_path(args.cache_dir, args.profile)}"
    )
    return 1 if failed else 0


def _collect(args: argparse.Namespace, jobs: list[Job], optional: set[str] = frozenset()) -> int:
    """Write the jobs' cached runs; list the missing, but not the ``optional`` jobs' (spare
    seeds not called for)."""
    from sclib.experiments.jobs_results import collect_jobs

    out = args.out or RESULTS_DIR / args.profile / "runs.csv"
    table, missing = collect_jobs(jobs, Cache(args.cache_dir), args.profile)
    missing = {name: why for name, why in missing.items() if name not in optional}
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"{len(table)} runs of profile {args.profile!r} -> {out}")
    if len(table) and not args.weight_density:  # notebook 04's mask overlaps, beside it
        from sclib.experiments.collect_masks import write_mask_tables

        profiles = {job.profile.domain: job.profile for job in jobs}
        try:
            for path in write_mask_tables(table, profiles, Cache(args.cache_dir), out.parent):
                print(f"mask tables -> {path}")
        except LookupError as error:
            print(f"mask tables not written: {error}")
    for name, reason in missing.items():
        print(f"missing {name}: {reason}")
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    """Parse, check everything, then plan, run or collect; the exit status."""
    cli = parser()
    args = cli.parse_args(argv)
    try:
        jobs = plan_jobs(
            args.profile,
            args.domain,
            args.task,
            args.architecture,
            args.regime,
            base_seeds=args.seed,
            densities=args.weight_density,
        )
        if args.command == "run":
            options = PoolOptions(
                executor=args.executor,
                workers=args.workers,
                threads=args.threads,
                partition=args.partition,
                gpus_per_job=args.gpus_per_job,
                cpus_per_job=args.cpus_per_job,
                max_parallel=args.max_parallel,
                time_min=args.time_min,
                retries=args.retries,
            )
    except ValueError as error:
        cli.error(str(error))  # exits with status 2
    cache = Cache(args.cache_dir)
    spares, needed = _spare_jobs(args, cache)
    if args.command == "collect":
        return _collect(args, jobs + spares, {j.name for j in spares} - {j.name for j in needed})
    jobs = jobs + needed
    if needed:
        print(f"{len(needed)} spare-seed job(s): a base model failed; its spare seed stands in")
    if args.command == "plan":
        print("\n".join(plan(jobs, cache)))
        return 0
    return _run(args, jobs, options)


def _spare_jobs(args: argparse.Namespace, cache: Cache) -> tuple[list[Job], list[Job]]:
    """The profile's spare seeds' jobs (``sclib.experiments.profiles.SPARE_SEEDS``), and those
    of them the cached runs call for (a lower seed's base model failed:
    ``sclib.experiments.seeds.spare_needed``); none when ``--seed`` picks the seeds."""
    if args.seed is not None:
        return [], []
    from sclib.experiments.seeds import spare_jobs

    return spare_jobs(
        args.profile,
        cache,
        domains=args.domain,
        tasks=args.task,
        architectures=args.architecture,
        regimes=args.regime,
        densities=args.weight_density,
    )


if __name__ == "__main__":
    sys.exit(main())
