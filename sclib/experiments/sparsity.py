"""Beyond the paper: does weight sparsity amplify decomposition? (issue #16)

Gao et al. 2025 ("Weight-sparse transformers have interpretable circuits", arXiv
2511.13653) find small, disentangled circuits in weight-sparse models. Read with Lepori et
al., the claim is that sparsity *amplifies* a tendency that already exists: cells modular
when dense become more so, the others stay not modular. The rival reading, *enforce*,
predicts that sparsity makes every cell modular. This module runs the same cells at
several base-model weight densities (``sclib.sparsity``: top-k by magnitude after every
step, annealed over the first half of training; the untrained control keeps random
weights at the same density); ``sclib.experiments.sparsity_results`` writes, reads and
collects the committed standard run, ``sclib.stats.sparsity`` tabulates the runs,
``sclib.stats.sparsity_verdict`` reads the verdict off them and ``sclib.plots.sparsity``
draws them. Used by ``notebooks/07_sparsity.ipynb``, ``sclib.experiments.jobs`` (its
density check) and ``sclib.experiments.sparsity_results``.

The quick set (``sparsity_cells(domains, "quick")``) is one subroutine per domain, one
base seed, two densities: its density-1.0 runs are notebooks 03/04's own (read from the
cache), and one seed cannot decide anything. The standard set (``standard_sparsity``)
has both subroutines, three base seeds and five densities per domain
(``STANDARD_DENSITIES``), a spare seed standing in where a base model fails
(``sclib.experiments.seeds``); run and commit it with::

    python -m sclib.experiments.sparsity            # -> data/results/sparsity/runs.csv

or on every core (or a SLURM cluster) through the grid, then write what it cached::

    python -m sclib.grid run --profile standard --task inside_contact --architecture resnet \\
        --regime scratch,untrained --weight-density 1,0.5,0.2,0.1,0.05
    python -m sclib.grid run --profile standard --task sv_agreement --architecture minilm \\
        --regime scratch,untrained --weight-density 1,0.5,0.2,0.1,0.01
    python -m sclib.experiments.sparsity --collect   # the finished runs; lists the missing
    # where a base seed failed, its spare: the same grid command with --seed 3, then collect

>>> sparse_profile(get_profile("vision", "quick"), 0.2).weight_density
0.2
>>> [c.regime for c in sparsity_cells(["vision"])["vision"]]
['scratch', 'untrained']
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile, notebook_profiles
from sclib.experiments.profiles import Cell, Profile, cells
from sclib.experiments.runner import check_cell, run_grid
from sclib.paths import CACHE_DIR
from sclib.stats.vocabulary import DOMAINS

QUICK_DENSITIES = (1.0, 0.2)
# dense, three common levels, and the sparsest level each base model still learns at
# (``scripts/sparsity_limit_check.py``, accuracy only: the ResNet 0.972 at 5%; MiniLM 1.00
# at 1%, the sparsest checked; below 5% the ResNet's restored weights miss the target)
STANDARD_DENSITIES: dict[str, tuple[float, ...]] = {
    "vision": (1.0, 0.5, 0.2, 0.1, 0.05),
    "language": (1.0, 0.5, 0.2, 0.1, 0.01),
}
# one trained cell per domain (the first subroutine of notebooks 03/04's tasks); each comes
# with its untrained control (random weights at the same density)
SPARSITY_TASKS = {
    "vision": ("inside_contact", "resnet", "none"),
    "language": ("sv_agreement", "minilm", "singular"),
}


def check_density(density: float) -> None:
    """Raise ValueError unless ``density`` is a number in (0, 1] (1 = dense)."""
    if isinstance(density, bool) or not isinstance(density, int | float) or not 0 < density <= 1:
        raise ValueError(
            f"weight density must be a number in (0, 1] (1 = dense, e.g. 0.2 keeps a fifth of "
            f"each weight tensor), got {density!r}"
        )


def check_densities(densities: Iterable[float]) -> tuple[float, ...]:
    """The densities as a tuple, each checked (``check_density``), none repeated, at least one."""
    densities = tuple(densities)
    if not densities:
        raise ValueError("no weight density given; e.g. densities=(1.0, 0.2)")
    for density in densities:
        check_density(density)
    if len(set(densities)) < len(densities):
        raise ValueError(f"densities repeat a value: {densities}")
    return densities


def sparse_profile(profile: Profile, density: float) -> Profile:
    """``profile`` with base models of weight density ``density`` (1.0: the dense profile
    itself, so its runs are the dense notebooks' runs, read from the cache)."""
    check_density(density)
    return replace(profile, weight_density=float(density))


def check_domains(domains: Iterable[str], valid: Sequence[str]) -> list[str]:
    """The domains as a list, each one of ``valid``, at least one; errors name the valid."""
    domains = list(domains)
    for domain in domains:
        if domain not in valid:
            raise ValueError(f"unknown domain {domain!r}; choose from: {', '.join(valid)}")
    if not domains:
        raise ValueError(f"no domain given; choose from: {', '.join(valid)}")
    return domains


def sparsity_cells(domains: Iterable[str] = DOMAINS, name: str = "quick") -> dict[str, list[Cell]]:
    """The cells of the sparsity experiment under profile ``name``, per domain: trained
    from scratch, and their untrained controls (random weights at the same density).

    ``quick``: the first subroutine of each domain's task (vision Inside-Contact/inside on
    the small ResNet, language SV agreement/subject on MiniLM, singular), trained from
    scratch; base and mask seed 0: notebooks 03/04's own cells. Any other profile
    (``standard``, ``full``, ``paper``): both subroutines and the profile's base and mask
    seeds (``standard``: base seeds 0-2, mask seed 0).
    """
    domains = check_domains(domains, list(SPARSITY_TASKS))
    out = {}
    for domain in domains:
        profile = get_profile(domain, name)  # raises for an unknown profile, naming the valid
        task, architecture, variant = SPARSITY_TASKS[domain]
        grid = cells(
            profile,
            tasks=[task],
            architectures=[architecture],
            regimes=["scratch", "untrained"],
            variants=[variant],
            base_seeds=[0] if name == "quick" else profile.base_seeds,
            mask_seeds=[0] if name == "quick" else profile.mask_seeds,
        )
        first = grid[0].subroutine
        out[domain] = [c for c in grid if c.subroutine == first] if name == "quick" else grid
    return out


def standard_sparsity(
    domains: Iterable[str] = DOMAINS,
) -> tuple[dict[str, Profile], dict[str, tuple[float, ...]], dict[str, list[Cell]]]:
    """The standard set as ``run_sparsity``'s first three arguments: the standard profiles
    (quick's sizes), each domain's ``STANDARD_DENSITIES``, both subroutines, base seeds 0-2
    (120 runs for both domains; spare seeds stand in for failed base models:
    ``sclib.experiments.sparsity_results.run_standard``)."""
    domains = check_domains(domains, list(SPARSITY_TASKS))
    return (
        notebook_profiles("standard", domains),
        {d: STANDARD_DENSITIES[d] for d in domains},
        sparsity_cells(domains, "standard"),
    )


Densities = Iterable[float] | Mapping[str, Iterable[float]]


def _per_domain(densities: Densities, domains: Iterable[str]) -> dict[str, tuple[float, ...]]:
    """Densities for each domain: one set for all, or a mapping by domain (each checked)."""
    domains = list(domains)
    if isinstance(densities, Mapping):
        missing = [d for d in domains if d not in densities]
        if missing:
            raise ValueError(f"no densities for domain(s) {missing}; given for {list(densities)}")
        return {d: check_densities(densities[d]) for d in domains}
    shared = check_densities(densities)
    return {d: shared for d in domains}


def check_sparsity(
    profiles_by_domain: Mapping[str, Profile],
    densities: Densities,
    cells_by_domain: Mapping[str, Iterable[Cell]],
) -> tuple[dict[str, tuple[float, ...]], dict[str, list[Cell]]]:
    """Check every argument of ``run_sparsity`` before anything trains; the densities per
    domain and the cells as lists. Errors name the bad value and the valid ones."""
    densities = _per_domain(densities, cells_by_domain)
    valid = list(profiles_by_domain)
    for domain, profile in profiles_by_domain.items():
        check_domains([domain], list(DOMAINS))
        if profile.domain != domain:
            raise ValueError(f"profile {profile.name!r} is for {profile.domain}, given as {domain}")
    grids = {d: list(c) for d, c in cells_by_domain.items()}
    check_domains(grids, valid)
    for domain, grid in grids.items():
        if not grid:
            raise ValueError(f"no cells for domain {domain!r}")
        for density in densities[domain]:
            for cell in grid:
                check_cell(cell, sparse_profile(profiles_by_domain[domain], density))
    return densities, grids


def run_sparsity(
    profiles_by_domain: Mapping[str, Profile],
    densities: Densities,
    cells_by_domain: Mapping[str, Iterable[Cell]],
    cache: Cache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Every cell at every base-model weight density (one set for all domains, or a
    mapping by domain): one tidy table, one row per run.

    Runs ``sclib.experiments.runner.run_grid`` per domain and density under
    ``sparse_profile(profile, density)``; rows carry ``weight_density`` (the target) and
    ``base_weight_density`` (measured). Every argument is checked first (``check_sparsity``).
    """
    densities, grids = check_sparsity(profiles_by_domain, densities, cells_by_domain)
    cache = cache if cache is not None else Cache()
    tables = []
    for domain, grid in grids.items():
        for density in densities[domain]:
            profile = sparse_profile(profiles_by_domain[domain], density)
            if progress:
                print(f"[{domain}/{profile.name}] weight density {density:g}", flush=True)
            tables.append(run_grid(grid, profile, cache, progress))
    return pd.concat(tables, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m sclib.experiments.sparsity``: the standard set, run (or, with
    ``--collect``, read from the cache) and written."""
    # imported here, not at the top: sclib.experiments.sparsity_results imports this module
    from sclib.experiments.sparsity_results import RESULTS, collect_standard, run_standard

    cli = argparse.ArgumentParser(
        prog="python -m sclib.experiments.sparsity",
        description="Run the standard sparsity set (both subroutines, base seeds 0-2 and "
        "spares where one fails, densities 1.0, 0.5, 0.2, 0.1 and 0.05 (vision) or 0.01 "
        "(language)) and write it with its provenance.",
    )
    cli.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="default: data/cache")
    cli.add_argument(
        "--out", type=Path, default=RESULTS, help="default: data/results/sparsity/runs.csv"
    )
    cli.add_argument(
        "--collect",
        action="store_true",
        help="compute nothing: write the runs the cache holds (e.g. from python -m sclib.grid "
        "run ... --weight-density 1,0.5,0.2,0.1,0.05) and list the missing ones",
    )
    args = cli.parse_args(argv)
    if not args.collect:
        run_standard(Cache(args.cache_dir), args.out)
        return 0
    rows, missing = collect_standard(Cache(args.cache_dir), args.out)
    for name, reason in missing.items():
        print(f"missing {name}: {reason}")
    print(f"{len(rows)} runs collected, {len(missing)} jobs with runs missing")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
