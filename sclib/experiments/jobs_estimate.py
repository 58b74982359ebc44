"""What a job will cost, before it runs: from earlier runs' timings, else a table.

Every run row records ``base_train_time_s`` (the base model, including its pretraining
when that was not cached yet), ``mask_train_time_s`` (one mask of the search) and
``n_grid_points`` (the masks the search trained), with the ``device``. ``Timings`` keeps
their medians per (domain, profile, architecture, regime); a job of a group never run
falls back to the same architecture in any regime, then to ``DEFAULT_SECONDS``.

>>> t = Timings.from_runs(pd.DataFrame())
>>> from sclib.experiments.jobs import plan_jobs
>>> job = plan_jobs("quick", domains=["vision"])[0]
>>> t.estimate(job)  # quick vision: a base model, two cells of (a search + evaluation)
(320.0, 'cpu')
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sclib.experiments.jobs import Job
from sclib.experiments.ladder import rungs
from sclib.experiments.profiles import base_training

# (domain, profile) -> (device, seconds per base model, per mask, per pretraining, per
# evaluation of a cell). Where the numbers come from:
# - quick: measured on the 2-core CPU of CI (data/results/*_quick_check.csv and the notes
#   in sclib/experiments/profiles.py): a quick ResNet base model 1,000 steps x 0.14 s; a
#   BERT-small one 122 s; a mask 35-47 s; our MLM 113 s; SimCLR's 300 steps of 2 x 128
#   images, 4 x a base step each, ~170 s.
# - standard: quick's models and data sizes, so quick's numbers (per job; the wide ResNet
#   is slower, until its runs record their own timings).
# - tiny: a few seconds each on that CPU (tests/test_grid.py).
# - full: NOT measured; a guess for one recent GPU from the step counts (vision: 4,700
#   base steps, 3,100 per mask, SimCLR 100 epochs of 30,000 images; language: 1,500 base
#   steps, 630 per mask, MLM 5 epochs of 50,000 sentences) at 0.03-0.1 s a step. The
#   first full runs record real timings, which `plan` then uses instead.
# - paper: NOT measured either; the same kind of guess from the paper's step counts, at
#   about 0.06-0.1 s a step on one recent GPU. Vision: a base model up to 100 epochs of
#   10,000 problems at batch 32 (31,000 steps of 128 images of 128 px), a mask 90 epochs
#   at batch 64 (14,000 steps), SimCLR 100 epochs of 120,000 images at batch 128 (94,000
#   steps of two views). Language: a base model up to 100 epochs of 9,500 problems at
#   batch 32 (30,000 steps, fewer with early stopping), a mask 90 epochs at batch 64
#   (13,000 steps), our MLM 5 epochs of 50,000 sentences. Each trained cell trains the
#   whole grid (4 inits x 2 lrs x 3 regions = 24 masks, one lambda).
DEFAULT_SECONDS: dict[tuple[str, str], tuple[str, float, float, float, float]] = {
    ("vision", "tiny"): ("cpu", 3.0, 2.0, 3.0, 1.0),
    ("language", "tiny"): ("cpu", 3.0, 2.0, 3.0, 1.0),
    ("vision", "quick"): ("cpu", 140.0, 40.0, 170.0, 10.0),
    ("language", "quick"): ("cpu", 120.0, 40.0, 113.0, 10.0),
    ("vision", "standard"): ("cpu", 140.0, 40.0, 170.0, 10.0),  # quick's sizes
    ("language", "standard"): ("cpu", 120.0, 40.0, 113.0, 10.0),
    ("vision", "full"): ("gpu", 600.0, 150.0, 2400.0, 20.0),
    ("language", "full"): ("gpu", 300.0, 60.0, 600.0, 20.0),
    ("vision", "paper"): ("gpu", 2400.0, 1400.0, 9400.0, 30.0),  # estimate, see above
    ("language", "paper"): ("gpu", 600.0, 400.0, 300.0, 20.0),  # estimate, see above
}
FALLBACK = ("cpu", 600.0, 120.0, 600.0, 20.0)  # a profile missing from the table


def _masks_per_cell(job: Job) -> float:
    """Full-cost masks a cell trains: the untrained control one (its scratch twin's selected
    setting); a trained model's search, per (init, lr, region), walks the ladder down to the
    first passing rung, whose rungs above empty and stop early (counted as half a mask
    each: an estimate until runs record their timings)."""
    p = job.profile
    starts = len(p.inits) * len(p.lrs) * len(p.regions)
    if job.cells[0].regime == "untrained":
        return 1.0
    return starts * (1 + 0.5 * min(2, len(p.lambdas) - 1))


@dataclass(frozen=True)
class Timings:
    """Median timings of earlier runs, keyed by (domain, profile, architecture, regime)."""

    measured: dict[tuple[str, str, str, str], tuple[str, float, float, float]]

    @classmethod
    def from_runs(cls, runs: pd.DataFrame) -> Timings:
        """From run rows (``sclib.experiments.collect.cached_runs``); empty rows give none."""
        need = {"domain", "profile", "architecture", "regime", "base_train_time_s"}
        if runs.empty or not need <= set(runs.columns):
            return cls({})
        measured = {}
        keys = ["domain", "profile", "architecture", "regime"]
        for key, group in runs.groupby(keys):
            device = "cpu" if (group["device"] == "cpu").all() else "gpu"
            measured[key] = (
                device,
                float(group["base_train_time_s"].median()),
                float(group["mask_train_time_s"].median()),
                float(group["n_grid_points"].median()),
            )
        return cls(measured)

    def _lookup(self, job: Job) -> tuple[str, float, float, float] | None:
        """The job's measured timings; another regime's of the same architecture when its
        own were never measured (an untrained control then trains no base model and one
        mask a cell, not that regime's search)."""
        cell, p = job.cells[0], job.profile
        found = self.measured.get((p.domain, p.name, cell.architecture, cell.regime))
        if found is None:
            same_arch = [
                v
                for k, v in self.measured.items()
                if k[:3] == (p.domain, p.name, cell.architecture)
            ]
            found = same_arch[0] if same_arch else None
            if found is not None and cell.regime == "untrained":
                device, _, mask_s, _ = found
                found = (device, 0.0, mask_s, _masks_per_cell(job))
        return found

    def estimate(self, job: Job) -> tuple[float, str]:
        """``(seconds, device)`` the job should take: ``device`` is ``"cpu"`` or ``"gpu"``.

        Without measured timings: the table's base model scaled by the epochs of the job's own
        base training (``profiles.base_training``: a pretrained or per-task recipe may train
        longer than the profile's), none for an untrained control; a ladder job, a mask and
        an evaluation per rung of its part."""
        p = job.profile
        device, base_s, mask_s, pre_s, eval_s = DEFAULT_SECONDS.get((p.domain, p.name), FALLBACK)
        if job.kind == "pretraining":
            return pre_s, device
        if job.kind == "probe":  # evaluations of cached runs, about one evaluation each
            return len(job.cells) * eval_s, device
        if job.kind == "ladder":
            return len(rungs(p, job.part)) * (mask_s + eval_s), device
        masks = _masks_per_cell(job)
        base_s *= _base_epochs(job) / p.base.epochs
        found = self._lookup(job)
        if found is not None:
            device, base_s, mask_s, masks = found
        return base_s + len(job.cells) * (masks * mask_s + eval_s), device


def _base_epochs(job: Job) -> int:
    """Epochs of the job's base training; 0 for an untrained control (not trained)."""
    cell = job.cells[0]
    if cell.regime == "untrained":
        return 0
    return base_training(job.profile, cell.regime, cell.task).epochs


def critical_paths(jobs: list[Job], timings: Timings) -> dict[str, float]:
    """Each job's estimated seconds plus those of the longest chain of jobs that need it:
    how long the work behind it takes at the least. A scheduler that starts the ready job
    with the longest path first keeps a long chain from starting last.

    >>> from sclib.experiments.jobs import plan_jobs
    >>> jobs = plan_jobs("quick", domains=["vision"], regimes=["scratch", "untrained"])
    >>> paths = critical_paths(jobs, Timings.from_runs(pd.DataFrame()))
    >>> [round(paths[j.name]) for j in jobs]  # the scratch job, then its untrained control
    [420, 100]
    """
    seconds = {job.name: timings.estimate(job)[0] for job in jobs}
    needed_by: dict[str, list[str]] = {job.name: [] for job in jobs}
    for job in jobs:
        for need in job.needs:
            needed_by.setdefault(need, []).append(job.name)
    paths: dict[str, float] = {}

    def path(name: str) -> float:
        if name not in paths:
            paths[name] = seconds[name] + max((path(n) for n in needed_by[name]), default=0.0)
        return paths[name]

    return {job.name: path(job.name) for job in jobs}
