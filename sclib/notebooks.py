"""``make figures``: run every numbered notebook headlessly, in order, into ``figures/``.

Each notebook ``notebooks/NN_*.ipynb`` is executed by papermill with its parameters
(``PROFILE`` among them) into ``build/notebooks/`` (executed copies, not committed); the
notebooks write their figures and the data behind them to ``figures/`` (quick, the
default) or ``figures/<profile>/`` (``figure_dir``), so that drawing another profile
leaves the quick figures as they are. Finished runs are
cached on disk (``data/cache/``), so an interrupted ``make figures`` resumes where it
stopped.

Before the notebooks, the runs of notebooks 02-04 (the profile's grid in all three regimes)
and notebook 07's sparse base models are computed by the grid's local pool, one
single-thread worker per core (``prefetch``): on the 2-core machine two workers do more runs
an hour than one two-thread process (``bench/pool.py``), and the notebooks then read their
runs from the cache. ``--workers 0`` skips it (each notebook computes its own runs in-process).

    python -m sclib.notebooks --profile quick [--only 02] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sclib.paths import NOTEBOOKS_DIR, ROOT

NOTEBOOKS = NOTEBOOKS_DIR
BUILD = ROOT / "build" / "notebooks"
PROFILES = (
    "quick",
    "standard",
    "full",
    "paper",
)  # the names of sclib.experiments.profile_settings.PROFILES


def numbered_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, optionally only those whose number is in ``only``."""
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = [o for o in only if not any(p.name.startswith(o) for p in found)]
        if unknown:
            valid = ", ".join(p.name[:2] for p in found)
            raise ValueError(f"no notebook numbered {unknown}; choose from: {valid}")
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
    return found


FIGURE_NOTEBOOKS = ("02", "03", "04", "07")  # the notebooks whose runs ``prefetch`` computes


def prefetch(profile: str, workers: int, sparsity_domains: Sequence[str] | None = None) -> None:
    """Compute the runs of notebooks 02-04 and 07 on the local pool (``workers`` processes),
    with notebook 04's lambda ladder and probes. ``sparsity_domains``: notebook 07's
    ``DOMAINS`` when it will run with other than its default (``sparsity_prefetch``)."""
    from sclib.experiments.cache import Cache
    from sclib.experiments.jobs import plan_jobs
    from sclib.experiments.jobs_pool import PoolOptions, run_jobs
    from sclib.experiments.probe import probe_jobs
    from sclib.experiments.seeds import spare_jobs
    from sclib.paths import CACHE_DIR
    from sclib.stats.vocabulary import REGIMES

    start = time.perf_counter()
    jobs = plan_jobs(profile, regimes=REGIMES)
    if all_committed(jobs):
        print(f"[prefetch] every run is in data/results/{profile}/runs.csv: nothing to run")
        return
    jobs += ladder_prefetch(jobs, workers) + probe_jobs(jobs)
    jobs += sparsity_prefetch(profile, sparsity_domains)
    print(f"[prefetch] {len(jobs)} jobs of profile {profile} on {workers} workers", flush=True)
    records = run_jobs(jobs, CACHE_DIR, profile, PoolOptions(workers=workers), progress=True)
    _, spares = spare_jobs(profile, Cache(CACHE_DIR), regimes=REGIMES)
    if spares:  # a base model failed: its spare seed stands in (sclib.experiments.seeds)
        print(f"[prefetch] {len(spares)} spare-seed jobs", flush=True)
        options = PoolOptions(workers=workers)
        records.update(run_jobs(spares, CACHE_DIR, profile, options, progress=True))
    failed = [name for name, r in records.items() if r.get("state") != "done"]
    took = time.perf_counter() - start
    print(f"[prefetch] done in {took:.0f} s; failed: {failed or 'none'}", flush=True)


LADDER_NOTEBOOK = "04_imperfect_decomposition.ipynb"  # its SENSITIVITY_DOMAINS parameter


def figure_dir(profile: str) -> str:
    """Where the notebooks write a profile's figures, relative to ``notebooks/``: the quick
    profile's in ``figures/``, every other's in ``figures/<profile>/``.

    >>> figure_dir("quick"), figure_dir("standard")
    ('../figures', '../figures/standard')
    """
    return "../figures" if profile == "quick" else f"../figures/{profile}"


def parameters(notebook: Path, profile: str) -> dict:
    """The parameters ``run`` gives ``notebook``: ``PROFILE``, and ``FIGURES`` where the
    notebook has that parameter (``figure_dir``)."""
    given = {"PROFILE": profile}
    if "FIGURES" in notebook_defaults(notebook.name):
        given["FIGURES"] = figure_dir(profile)
    return given


def notebook_defaults(notebook: str) -> dict:
    """The literal values its ``parameters`` cell gives a notebook's parameters (what
    papermill runs it with unless told otherwise).

    >>> notebook_defaults(LADDER_NOTEBOOK)["PROFILE"]
    'quick'
    """
    import ast
    import json

    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    (source,) = [
        "".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def ladder_domains() -> list[str]:
    """Notebook 04's default ``SENSITIVITY_DOMAINS``: the domains whose lambda ladder it draws."""
    return list(notebook_defaults(LADDER_NOTEBOOK)["SENSITIVITY_DOMAINS"])


def ladder_prefetch(jobs, workers: int) -> list:
    """Notebook 04's lambda ladder masks as pool jobs beside ``jobs`` (one part per worker:
    ``sclib.experiments.ladder``), for each domain of ``ladder_domains`` that ``jobs`` have."""
    from sclib.experiments.ladder import ladder_jobs

    profiles = {job.profile.domain: job.profile for job in jobs if job.kind == "base"}
    return [
        ladder
        for domain in ladder_domains()
        if domain in profiles
        for ladder in ladder_jobs(profiles[domain], parts=max(workers, 1))
    ]


SPARSITY_NOTEBOOK = "07_sparsity.ipynb"  # its DOMAINS and DENSITIES parameters


def sparsity_prefetch(profile: str, domains: Sequence[str] | None = None) -> list:
    """Notebook 07's sparse runs (its default ``DENSITIES``, and its default ``DOMAINS`` or
    ``domains``, under ``profile``) as pool jobs; its dense runs are notebook 03's, in the
    prefetch already."""
    from sclib.experiments.profile_settings import notebook_profiles
    from sclib.experiments.sparsity import sparsity_cells
    from sclib.experiments.sparsity_results import sparsity_jobs

    defaults = notebook_defaults(SPARSITY_NOTEBOOK)
    domains = list(defaults["DOMAINS"] if domains is None else domains)
    unknown = sorted(set(domains) - set(defaults["DOMAINS"]))
    if unknown:
        raise ValueError(
            f"notebook 07 has no domain {unknown}; choose from: {', '.join(defaults['DOMAINS'])}"
        )
    sparse = [d for d in defaults["DENSITIES"] if d < 1]
    if not sparse:
        return []
    profiles = notebook_profiles(profile, domains)
    return sparsity_jobs(profiles, sparse, sparsity_cells(domains, profile))


def all_committed(jobs) -> bool:
    """Whether the committed results table holds every cell of the base-model jobs (then
    the notebooks draw it, ``sclib.experiments.collect.notebook_rows``)."""
    from sclib.experiments.collect import committed_runs

    bases = [job for job in jobs if job.kind == "base"]
    return all(committed_runs(job.profile, job.cells) is not None for job in bases)


def run(profile: str = "quick", only: list[str] | None = None, workers: int | None = None) -> None:
    """Execute the notebooks with papermill, printing one progress line per notebook.

    ``workers``: processes that compute notebooks 02-04's runs first (``prefetch``);
    default one per core, 0 for none. A job that fails there is computed (or fails, with
    its error) again in the notebook."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    from sclib.experiments.jobs_pool import cores

    workers = cores() if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0: no prefetch), not {workers}")
    import logging

    import papermill

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.INFO)

    notebooks = numbered_notebooks(only)
    if workers and any(nb.name[:2] in FIGURE_NOTEBOOKS for nb in notebooks):
        prefetch(profile, workers)
    BUILD.mkdir(parents=True, exist_ok=True)
    for i, nb in enumerate(notebooks, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] {nb.name} (profile {profile}) ...", flush=True)
        papermill.execute_notebook(
            str(nb),
            str(BUILD / nb.name),
            parameters=parameters(nb, profile),
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
            log_output=True,  # the notebooks' own progress lines (one per run) reach the console
        )
        print(
            f"[{i}/{len(notebooks)}] {nb.name} done in {time.perf_counter() - start:.0f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        default="quick",
        help="quick (2-core CPU), full (GPU) or paper (the paper's settings, GPU)",
    )
    parser.add_argument("--only", nargs="*", help="notebook numbers, e.g. 02 03")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes computing notebooks 02-04's runs first (default: one per core; 0: none)",
    )
    args = parser.parse_args(argv)
    try:
        run(args.profile, args.only, args.workers)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
