"""The committed standard sparsity run (issue #16): written, read, and collected from the grid.

Used by ``notebooks/07_sparsity.ipynb`` (``RESULTS``, ``OVERLAP``, ``read_results``),
``sclib.notebooks`` (``sparsity_jobs``: ``make figures`` computes notebook 07's sparse runs
through a pool first) and ``python -m sclib.experiments.sparsity`` (``run_standard``,
``collect_standard``). The cells and how they run at each weight density are
``sclib.experiments.sparsity``'s; this module writes their runs to ``RESULTS``
(``data/results/sparsity/runs.csv``, with provenance) and their masks' overlap to
``OVERLAP``, either by running the standard set in one process (``run_standard``) or by
collecting what the grid's jobs (``standard_jobs``) cached (``collect_standard``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sclib.experiments.cache import Cache
from sclib.experiments.collect import read_table
from sclib.experiments.profile_settings import get_profile, notebook_profiles
from sclib.experiments.profiles import Cell, Profile, spare_seeds
from sclib.experiments.runner import run_grid
from sclib.experiments.sparsity import (
    SPARSITY_TASKS,
    STANDARD_DENSITIES,
    Densities,
    check_domains,
    check_sparsity,
    run_sparsity,
    sparse_profile,
    standard_sparsity,
)
from sclib.paths import RESULTS_DIR
from sclib.provenance import provenance, runs_provenance
from sclib.stats.vocabulary import BASE_COLUMNS, DOMAINS

RESULTS = RESULTS_DIR / "sparsity" / "runs.csv"  # the committed standard run
OVERLAP = RESULTS_DIR / "sparsity" / "overlap.csv"  # its masks' overlap (``sparsity_overlap``)


def write_results(rows: pd.DataFrame, path: Path | str = RESULTS) -> list[Path]:
    """Write sparsity runs to ``path`` (CSV, one row per run with its own provenance
    columns) and ``<path>.provenance.json`` beside it (``sclib.provenance``: the runs'
    profiles, seeds, devices, revisions and wall time, and what wrote the file). Returns
    the paths written."""
    if "weight_density" not in rows:
        raise ValueError("rows lack 'weight_density': they are not run_sparsity's rows")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False, float_format="%.6g")
    record = {
        "runs": runs_provenance(rows),
        "densities": sorted(float(d) for d in rows["weight_density"].unique()),
        "written_with": provenance(),
    }
    side = path.with_name(path.name + ".provenance.json")
    side.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return [path, side]


def sparsity_overlap(
    rows: pd.DataFrame, profiles_by_domain: Mapping[str, Profile], cache: Cache | None = None
) -> pd.DataFrame:
    """Per included trained base model and density, the overlap of its two subroutines'
    selected masks (``sclib.stats.sparsity_overlap.pooled_overlap``: pooled IoU beside what random
    masks of the same sizes give), read from the cache without computing anything
    (``LookupError`` when a mask is not there). ``profiles_by_domain``: the dense profiles
    the rows' densities were run from."""
    from sclib.experiments.collect import ReadOnlyCache
    from sclib.experiments.collect_masks import overlap_table
    from sclib.experiments.describe import included_cells
    from sclib.stats.sparsity_overlap import pooled_overlap
    from sclib.stats.vocabulary import TRAINED_REGIMES

    cache = ReadOnlyCache((cache if cache is not None else Cache()).root)
    layers = []
    for (domain, density), group in rows.groupby(["domain", "weight_density"], sort=False):
        trained = group[group["regime"].isin(TRAINED_REGIMES)]
        profile = sparse_profile(profiles_by_domain[domain], float(density))
        cell_list = included_cells(trained)
        table = overlap_table(cell_list, profile, cache, across="subroutines")
        if len(table):
            support = _support(cell_list, profile, cache)
            keys = table[[*BASE_COLUMNS, "layer"]].itertuples(index=False)
            table["support"] = [support[tuple(key)] for key in keys]
            layers.append(table.assign(domain=domain, weight_density=float(density)))
    return pooled_overlap(pd.concat(layers, ignore_index=True)) if layers else pd.DataFrame()


def _support(cell_list, profile: Profile, cache: Cache) -> dict[tuple, int]:
    """The nonzero weights of every parameter of each cell's base model, by (*BASE_COLUMNS,
    parameter name): what a mask of a weight-sparse model can keep."""
    from sclib.experiments.base_models import base_model

    firsts = {tuple(getattr(c, f) for f in BASE_COLUMNS): c for c in cell_list}
    out = {}
    for base, cell in firsts.items():
        model, _ = base_model(cell, profile, cache, progress=False)
        for name, weight in model.state_dict().items():
            out[(*base, name)] = int(weight.count_nonzero())
    return out


def read_results(path: Path | str = RESULTS) -> pd.DataFrame | None:
    """The committed sparsity runs (``write_results``), booleans restored; None if absent."""
    return read_table(path)


def run_standard(
    cache: Cache | None = None, path: Path | str = RESULTS, progress: bool = True
) -> pd.DataFrame:
    """Run the standard set (``standard_sparsity``), then each spare seed its cells need
    (``sclib.experiments.seeds.spare_needed``), and write it (``write_results``)."""
    from sclib.experiments.seeds import spare_needed

    profiles, densities, grids = standard_sparsity()
    rows = run_sparsity(profiles, densities, grids, cache=cache, progress=progress)
    for domain, profile in profiles.items():
        for spare in spare_seeds(profile):
            for density in densities[domain]:
                at = sparse_profile(profile, density)
                grid = list(dict.fromkeys(replace(c, base_seed=spare) for c in grids[domain]))
                grid = [c for c in grid if spare_needed(rows, c, at)]
                if grid:
                    more = run_grid(grid, at, cache, progress)
                    rows = pd.concat([rows, more], ignore_index=True)
    for written in write_results(rows, path):
        print(f"wrote {written}")
    return rows


def sparsity_jobs(
    profiles_by_domain: Mapping[str, Profile],
    densities: Densities,
    cells_by_domain: Mapping[str, Iterable[Cell]],
) -> list:
    """``run_sparsity``'s runs as grid jobs (``sclib.experiments.jobs.cell_jobs``): one per
    base model and density, each untrained control after its scratch twin; the same cache
    entries, so a pool can compute them before ``run_sparsity`` reads them (``make figures``
    does for notebook 07). Checked as ``run_sparsity`` checks its arguments.

    >>> from sclib.experiments.sparsity import sparsity_cells
    >>> jobs = sparsity_jobs(notebook_profiles("quick", ["vision"]), [0.2], sparsity_cells(["vision"]))
    >>> [j.name for j in jobs]  # doctest: +NORMALIZE_WHITESPACE
    ['vision/quick inside_contact resnet scratch seed 0 density 0.2',
     'vision/quick inside_contact resnet untrained seed 0 density 0.2']
    """
    from sclib.experiments.jobs import cell_jobs

    densities, grids = check_sparsity(profiles_by_domain, densities, cells_by_domain)
    return cell_jobs(
        [
            (sparse_profile(profiles_by_domain[domain], density), cell)
            for domain, grid in grids.items()
            for density in densities[domain]
            for cell in grid
        ]
    )


def standard_jobs(domains: Iterable[str] = DOMAINS, spares: bool = False) -> list:
    """The standard set as grid jobs (``sclib.experiments.jobs``): one per base model and
    density, each untrained control after its scratch twin; the same runs, and cache
    entries, as ``run_sparsity(*standard_sparsity())``. ``spares``: the spare seeds' jobs
    too (``sclib.experiments.profiles.SPARE_SEEDS``; run where a base model fails:
    ``python -m sclib.grid run ... --seed 3``)."""
    from sclib.experiments.jobs import plan_jobs

    domains = check_domains(domains, list(SPARSITY_TASKS))
    jobs = []
    for domain in domains:
        profile = get_profile(domain, "standard")
        seeds = (*profile.base_seeds, *spare_seeds(profile)) if spares else None
        jobs += plan_jobs(
            "standard",
            [domain],
            tasks=[SPARSITY_TASKS[domain][0]],
            architectures=[SPARSITY_TASKS[domain][1]],
            regimes=["scratch", "untrained"],
            base_seeds=seeds,
            densities=STANDARD_DENSITIES[domain],
        )
    return jobs


def collect_standard(
    cache: Cache | None = None, path: Path | str | None = RESULTS
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The standard set's runs that are in the cache, spare seeds' included, written
    (``write_results``, unless ``path`` is None) without computing anything; also each job
    with runs missing, and why (``sclib.experiments.jobs_results.collect_jobs``); a spare
    seed's job only where its cell needs it (``sclib.experiments.seeds.spare_needed``)."""
    from sclib.experiments.collect import cached_runs
    from sclib.experiments.jobs_results import collect_jobs
    from sclib.experiments.seeds import needed_jobs

    cache = cache if cache is not None else Cache()
    every, base = standard_jobs(spares=True), {j.name for j in standard_jobs()}
    spares = [j for j in every if j.name not in base]
    optional = {j.name for j in spares} - {j.name for j in needed_jobs(spares, cached_runs(cache))}
    rows, missing = collect_jobs(every, cache, "standard")
    missing = {name: why for name, why in missing.items() if name not in optional}
    if path is not None and len(rows):
        for written in write_results(rows, path):
            print(f"wrote {written} ({len(rows)} runs)")
        overlap = sparsity_overlap(
            rows, notebook_profiles("standard", rows["domain"].unique()), cache
        )
        overlap.to_csv(Path(path).with_name(OVERLAP.name), index=False, float_format="%.6g")
        print(f"wrote {Path(path).with_name(OVERLAP.name)} ({len(overlap)} base models)")
    return rows, missing
