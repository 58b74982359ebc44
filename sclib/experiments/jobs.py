"""A profile's grid as jobs: one per base model, and one per self-supervised pretraining.

A *job* trains (or loads) one base model (task, architecture, regime, variant, base seed)
and runs all its cells (subroutines x mask seeds) in one process, so no two jobs ever
train the same base model. A base model whose regime is ``pretrained`` with our own
pretraining (SimCLR, MLM) *needs* its pretraining job, which runs first; one pretraining
serves every task of its architecture and seed. ``sclib.experiments.jobs_pool`` runs jobs
on a local pool or SLURM; ``python -m sclib.grid`` is the command line.

>>> jobs = plan_jobs("quick", domains=["vision"], regimes=["scratch", "pretrained"])
>>> [j.name for j in jobs]  # doctest: +NORMALIZE_WHITESPACE
['vision/quick pretraining simclr resnet seed 0',
 'vision/quick inside_contact resnet scratch seed 0',
 'vision/quick inside_contact resnet pretrained seed 0']
>>> len(jobs[1].cells), jobs[2].needs
(2, ('vision/quick pretraining simclr resnet seed 0',))
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sclib.experiments.base_models import pretrained_embedder, pretraining_config
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import PROFILES, get_profile
from sclib.experiments.profiles import PRETRAINING, Cell, Profile, cells, run_config, spare_seeds
from sclib.experiments.profiles import tiny_profile as make_tiny
from sclib.experiments.runner import check_cell, run_cell
from sclib.models import ARCHITECTURES
from sclib.stats.vocabulary import BASE_COLUMNS, DOMAINS, REGIMES, Pretraining
from sclib.tasks import TASKS, task_domain

GRID_PROFILES = ("tiny", *dict.fromkeys(name for _, name in PROFILES))


@dataclass(frozen=True)
class Job:
    """One unit of work: a pretraining, or a base model with all its cells.

    Attributes:
        kind: ``"pretraining"``, ``"base"``, ``"ladder"`` (notebook 04's lambda ladder:
            ``sclib.experiments.ladder``) or ``"probe"`` (notebook 04's probes of a base
            job's runs: ``sclib.experiments.probe``).
        profile: the profile its cells run with.
        cells: the cells it runs (a pretraining job: one cell naming its architecture and
            seed; a ladder job: the candidates for its cell).
        needs: names of the jobs that must finish first.
        part: a ladder job's share of the rungs, ``(k, n)``: every n-th from the k-th.
    """

    kind: str
    profile: Profile
    cells: tuple[Cell, ...]
    needs: tuple[str, ...] = ()
    part: tuple[int, int] = (0, 1)

    @property
    def name(self) -> str:
        """A readable, unique name: ``vision/quick inside_contact resnet scratch seed 0``."""
        cell, p = self.cells[0], self.profile
        if self.kind == "pretraining":
            method = PRETRAINING[cell.architecture]
            return f"{p.domain}/{p.name} pretraining {method} {cell.architecture} seed {cell.base_seed}"
        if self.kind == "ladder":
            k, n = self.part
            return f"{p.domain}/{p.name} lambda ladder {cell.task} {cell.architecture} part {k + 1}/{n}"
        probe = " probes" if self.kind == "probe" else ""
        variant = "" if cell.variant == "none" else f" {cell.variant}"
        density = "" if p.weight_density == 1 else f" density {p.weight_density:g}"
        return (
            f"{p.domain}/{p.name} {cell.task} {cell.architecture} {cell.regime}{variant} "
            f"seed {cell.base_seed}{density}{probe}"
        )


def grid_profiles(name: str, domains: Sequence[str] | None = None) -> list[Profile]:
    """The profile ``name`` of each domain; ``"tiny"`` is ``tiny_profile`` of ``quick``."""
    if name not in GRID_PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(GRID_PROFILES)}")
    domains = list(domains) if domains else list(DOMAINS)
    for d in domains:
        if d not in DOMAINS:
            raise ValueError(f"unknown domain {d!r}; choose one of: {', '.join(DOMAINS)}")
    if name == "tiny":
        return [make_tiny(get_profile(d, "quick")) for d in domains]
    return [get_profile(d, name) for d in domains if (d, name) in PROFILES]


def _check_values(kind: str, values: Sequence[str] | None, valid: Sequence[str]) -> None:
    for v in values or ():
        if v not in valid:
            raise ValueError(f"unknown {kind} {v!r}; choose one of: {', '.join(valid)}")


def _self_supervised(cell: Cell) -> bool:
    return (
        cell.regime == "pretrained" and Pretraining(PRETRAINING[cell.architecture]).self_supervised
    )


def _profile_cells(
    profile: Profile, tasks, architectures, regimes, base_seeds, sparse: bool = False
) -> list[Cell]:
    """The profile's grid with the given axes overridden (values of other domains dropped).
    ``sparse`` (a run at weight densities, issue #16's experiment): the profile's own mask
    seeds everywhere, without the IoU's extra ones (``profiles.EXTRA_MASK_SEEDS``)."""
    overrides: dict[str, tuple] = {"mask_seeds": profile.mask_seeds} if sparse else {}
    if tasks:
        overrides["tasks"] = tuple(t for t in tasks if task_domain(t) == profile.domain)
    if architectures:
        overrides["architectures"] = tuple(
            a for a in architectures if ARCHITECTURES[a] == profile.domain
        )
    if regimes:
        overrides["regimes"] = tuple(regimes)
    if base_seeds:
        overrides["base_seeds"] = tuple(base_seeds)
    return cells(profile, **overrides)


def _at_densities(profiles: list[Profile], densities: Sequence[float] | None) -> list[Profile]:
    """Each profile at each base-model weight density (checked by
    ``sparsity.check_densities``); the profiles themselves when None."""
    from sclib.experiments.sparsity import check_densities  # it plans through this module

    if not densities:
        return profiles
    densities = check_densities(densities)
    return [dataclasses.replace(p, weight_density=float(d)) for p in profiles for d in densities]


def plan_jobs(
    profile: str | Sequence[Profile],
    domains: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    architectures: Sequence[str] | None = None,
    regimes: Sequence[str] | None = None,
    base_seeds: Sequence[int] | None = None,
    densities: Sequence[float] | None = None,
) -> list[Job]:
    """The jobs of a profile's grid, pretraining jobs first; axes override the profile's.

    ``profile`` is a name of ``GRID_PROFILES`` (one profile per domain) or the profiles
    themselves (then ``domains`` is not used). ``base_seeds`` picks some of the profile's
    base seeds (e.g. one seed a chunk). ``densities`` runs every base model at each of
    these weight densities (issue #16's sparse training; 1.0 is the dense profile itself,
    so its jobs are the dense grid's). Every cell is checked (``check_cell``) before
    anything is returned, so a bad argument fails here, not in a job hours later.
    """
    _check_values("task", tasks, list(TASKS))
    _check_values("architecture", architectures, list(ARCHITECTURES))
    _check_values("regime", regimes, REGIMES)
    pairs: list[tuple[Profile, Cell]] = []
    chosen = grid_profiles(profile, domains) if isinstance(profile, str) else list(profile)
    chosen = _at_densities(chosen, densities)
    for prof in chosen:
        allowed = (*prof.base_seeds, *spare_seeds(prof))
        for seed in base_seeds or ():
            if seed not in allowed:
                spares = f", spare {list(spare_seeds(prof))}" if spare_seeds(prof) else ""
                raise ValueError(
                    f"base seed {seed!r} is not one of profile {prof.name!r}'s "
                    f"({prof.domain}): {list(prof.base_seeds)}{spares}"
                )
        found = _profile_cells(prof, tasks, architectures, regimes, base_seeds, bool(densities))
        pairs += [(prof, c) for c in found]
    if not pairs:
        raise ValueError(
            f"profile {[p.name for p in chosen]} with these filters has no cells (domains {domains}, "
            f"tasks {tasks}, architectures {architectures}, regimes {regimes}, "
            f"base seeds {base_seeds})"
        )
    return cell_jobs(pairs)


def cell_jobs(pairs: Sequence[tuple[Profile, Cell]]) -> list[Job]:
    """Jobs for some cells, each with the profile it runs under: the cells of one base model
    (and weight density) in one job, pretraining jobs first, each untrained control after
    its scratch twin where the jobs have it. Every cell is checked (``check_cell``) first.

    >>> p = get_profile("vision", "quick")
    >>> [j.name for j in cell_jobs([(p, c) for c in cells(p, regimes=("untrained", "scratch"))])]
    ['vision/quick inside_contact resnet untrained seed 0', 'vision/quick inside_contact resnet scratch seed 0']
    """
    pretraining: dict[str, Job] = {}
    bases: dict[tuple, list[Cell]] = {}
    of_base: dict[tuple, Profile] = {}
    for prof, cell in pairs:
        check_cell(cell, prof)
        key = (prof.domain, prof.weight_density, *(getattr(cell, f) for f in BASE_COLUMNS))
        bases.setdefault(key, []).append(cell)
        of_base[key] = prof
    jobs: dict[tuple, Job] = {}
    for key, group in bases.items():
        prof, needs = of_base[key], ()
        if _self_supervised(group[0]):
            pre = Job("pretraining", prof, (group[0],))
            pretraining.setdefault(pre.name, pre)
            needs = (pre.name,)
        jobs[key] = Job("base", prof, tuple(group), needs)
    return [*pretraining.values(), *_after_twins(jobs)]


def _after_twins(jobs: dict[tuple, Job]) -> list[Job]:
    """The jobs, each untrained control needing its scratch twin's job where the plan has it
    (the control takes the twin's selected mask setting: ``runner.control_setting``)."""
    regime = 2 + BASE_COLUMNS.index("regime")  # key: (domain, density, *BASE_COLUMNS)
    out = []
    for key, job in jobs.items():
        twin = jobs.get((*key[:regime], "scratch", *key[regime + 1 :]))
        if job.cells[0].regime == "untrained" and twin is not None:
            job = dataclasses.replace(job, needs=(*job.needs, twin.name))
        out.append(job)
    return out


def run_key(cell: Cell, profile: Profile) -> dict[str, Any]:
    """The cache key of a cell's run row (as ``run_cell`` stores it)."""
    return run_config(cell, profile)


def job_cached(job: Job, cache: Cache) -> bool:
    """Whether everything the job makes is in the cache already."""
    if job.kind == "pretraining":
        return cache.has("pretraining", pretraining_config(job.cells[0], job.profile))
    if job.kind == "ladder":
        from sclib.experiments.ladder import rungs_cached

        return rungs_cached(job.cells, job.profile, cache, job.part)
    if job.kind == "probe":
        return all(cache.has("probes", run_key(c, job.profile)) for c in job.cells)
    return all(cache.has("runs", run_key(c, job.profile)) for c in job.cells)


class JobFailed(RuntimeError):
    """A job's cell raised; the message names the cell and holds the traceback."""


def _set_threads(threads: int | None) -> int:
    import torch

    if threads is None and os.environ.get("SLURM_CPUS_PER_TASK"):
        threads = int(os.environ["SLURM_CPUS_PER_TASK"])
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def run_job(job: Job, cache_dir: str | Path, threads: int | None = None) -> dict[str, Any]:
    """Run a job in this process (what a worker or a SLURM job executes).

    Args:
        threads: torch threads for this worker (on SLURM, default ``SLURM_CPUS_PER_TASK``).

    Returns:
        ``{"job", "cells", "time_s", "threads", "host"}``.

    Raises:
        JobFailed: at the first cell that raises, naming it, with its traceback; the
            cells finished before it stay in the cache.
    """
    threads = _set_threads(threads)
    cache, start = Cache(cache_dir), time.perf_counter()
    from sclib.experiments.ladder import train_rungs
    from sclib.experiments.probe import probe_run

    steps = [job.cells[0]] if job.kind == "ladder" else job.cells  # a ladder: one cell's rungs
    for cell in steps:
        try:
            if job.kind == "ladder":
                train_rungs(job.cells, job.profile, cache, job.part)
            elif job.kind == "pretraining":
                pretrained_embedder(cell, job.profile, cache)
            elif job.kind == "probe":
                probe_run(cell, job.profile, cache)
            else:
                run_cell(cell, job.profile, cache, progress=False)
        except Exception as error:
            raise JobFailed(
                f"job {job.name!r} failed at {cell} ({type(error).__name__}: {error})\n"
                f"{traceback.format_exc()}"
            ) from None
    return {
        "job": job.name,
        "cells": len(steps),
        "time_s": time.perf_counter() - start,
        "threads": threads,
        "host": os.uname().nodename,
    }
