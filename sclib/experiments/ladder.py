"""Notebook 04's lambda ladder on the grid's pool (issue #13): its rungs, computed ahead.

``sclib.experiments.sensitivity.sensitivity_table`` trains and evaluates a mask at every
rung of the lambda ladder for one cell per domain: in ``make figures`` that ran in the
notebook's own process after everything else, one rung after the other. Here the same
rows (the same cache entries: ``sclib.experiments.sensitivity.rung_row``) are computed by
pool jobs, the rungs dealt out to ``parts`` jobs that run beside the grid's other jobs;
the notebook then only reads them. The cell is chosen as ``sensitivity_table`` chooses
it: the first trained cell, in grid order, whose base model is not excluded for its
accuracy.

>>> from sclib.experiments.profile_settings import get_profile
>>> jobs = ladder_jobs(get_profile("language", "quick"), parts=2)
>>> [j.name for j in jobs]  # doctest: +NORMALIZE_WHITESPACE
['language/quick lambda ladder sv_agreement minilm part 1/2',
 'language/quick lambda ladder sv_agreement minilm part 2/2']
>>> jobs[0].needs
('language/quick sv_agreement minilm scratch singular seed 0',)
"""

from __future__ import annotations

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.profiles import Cell, MaskSetting, Profile, cells
from sclib.experiments.runner import run_cell
from sclib.experiments.sensitivity import rung_key, rung_row, settings
from sclib.stats.vocabulary import REGIMES, TRAINED_REGIMES


def candidates(profile: Profile) -> tuple[Cell, ...]:
    """The trained cells of notebook 04's grid (``cells(profile, regimes=REGIMES)``), in
    its order: the ladder's cell is the first of them whose base model passes."""
    return tuple(c for c in cells(profile, regimes=REGIMES) if c.regime in TRAINED_REGIMES)


def ladder_cell(cell_list, profile: Profile, cache: Cache, compute: bool = True) -> Cell | None:
    """The first of ``cell_list`` whose base model reaches the exclusion threshold (its run
    read from the cache, or run when ``compute``); None if none does (or, without
    ``compute``, if a run it needs is not cached)."""
    from sclib.experiments.jobs import run_key

    for cell in cell_list:
        if compute:
            row = run_cell(cell, profile, cache, progress=False)
        else:
            row = cache.load("runs", run_key(cell, profile))
            if row is None:
                return None
        if row["base_comp_test_acc"] >= profile.exclusion_threshold:
            return cell
    return None


def rungs(profile: Profile, part: tuple[int, int] = (0, 1)) -> list[MaskSetting]:
    """Part ``k`` of ``n`` (``part=(k, n)``) of the ladder's grid points, dealt in turn."""
    k, n = part
    return settings(profile)[k::n]


def train_rungs(cell_list, profile: Profile, cache: Cache, part: tuple[int, int] = (0, 1)):
    """Train and evaluate (or read) the ladder's rungs of ``part`` for the chosen cell;
    None if no cell of ``cell_list`` has a base model that passes."""
    cell = ladder_cell(cell_list, profile, cache)
    if cell is None:
        return None
    base, _ = base_model(cell, profile, cache, progress=False)
    for setting in rungs(profile, part):
        rung_row(cell, profile, setting, base, cache)
    return cell


def rungs_cached(cell_list, profile: Profile, cache: Cache, part: tuple[int, int]) -> bool:
    """Whether the part's rows are all in the cache already (False while the cell cannot
    be chosen from cached runs)."""
    cell = ladder_cell(cell_list, profile, cache, compute=False)
    if cell is None:
        return False
    return all(cache.has("rungs", rung_key(cell, profile, s)) for s in rungs(profile, part))


def ladder_jobs(profile: Profile, parts: int = 2) -> list:
    """The ladder's rungs as ``parts`` pool jobs (``sclib.experiments.jobs.Job``, kind
    ``"ladder"``), each needing the job of the first candidate's base model."""
    from sclib.experiments.jobs import Job, plan_jobs

    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    cell_list = candidates(profile)
    if not cell_list:
        return []
    first = cell_list[0]
    base_jobs = plan_jobs(
        [profile], tasks=[first.task], architectures=[first.architecture],
        regimes=[first.regime], base_seeds=[first.base_seed],
    )  # fmt: skip
    need = next(j.name for j in base_jobs if j.kind == "base" and first in j.cells)
    return [Job("ladder", profile, cell_list, (need,), part=(k, parts)) for k in range(parts)]
