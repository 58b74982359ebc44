"""Notebook 04's lambda ladder on the pool: the jobs train the very masks the notebook reads."""

from __future__ import annotations

import pytest

import sclib.experiments.search as search
from sclib.experiments.cache import Cache
from sclib.experiments.jobs import job_cached, plan_jobs, run_job
from sclib.experiments.ladder import candidates, ladder_jobs, rungs
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import tiny_profile
from sclib.experiments.runner import lambda_sensitivity

TINY = tiny_profile(get_profile("vision", "quick"))


def test_the_rungs_are_dealt_out_whole_and_once():
    every = rungs(TINY)
    parts = [rungs(TINY, (k, 3)) for k in range(3)]
    assert sorted(map(repr, sum(parts, []))) == sorted(map(repr, every))
    with pytest.raises(ValueError, match="parts must be >= 1, got 0"):
        ladder_jobs(TINY, parts=0)


def test_ladder_jobs_train_the_masks_the_notebook_then_only_reads(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    jobs = ladder_jobs(TINY, parts=2)
    assert [j.part for j in jobs] == [(0, 2), (1, 2)]
    assert all(not job_cached(j, cache) for j in jobs)  # no run yet: the cell is not chosen
    base = [j for j in plan_jobs([TINY]) if j.name == jobs[0].needs[0]]
    run_job(base[0], tmp_path, 1)
    for job in jobs:
        run_job(job, tmp_path, 1)
        assert job_cached(job, cache)

    def no_training(*args, **kwargs):
        raise AssertionError("a ladder mask was trained again")

    monkeypatch.setattr(search, "train_mask", no_training)
    table = lambda_sensitivity(candidates(TINY)[0], TINY, cache)
    assert len(table) == len(rungs(TINY))
