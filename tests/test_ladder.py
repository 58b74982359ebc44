"""Notebook 04's lambda ladder on the pool: the jobs compute the very rows the notebook reads."""

from __future__ import annotations

import pytest

import sclib.experiments.search as search
import sclib.experiments.sensitivity as sensitivity
from sclib.experiments.cache import Cache
from sclib.experiments.jobs import job_cached, plan_jobs, run_job
from sclib.experiments.ladder import candidates, ladder_jobs, rungs
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import tiny_profile

TINY = tiny_profile(get_profile("vision", "quick"))


def test_the_rungs_are_dealt_out_whole_and_once():
    every = rungs(TINY)
    parts = [rungs(TINY, (k, 3)) for k in range(3)]
    assert sorted(map(repr, sum(parts, []))) == sorted(map(repr, every))
    with pytest.raises(ValueError, match="parts must be >= 1, got 0"):
        ladder_jobs(TINY, parts=0)


def test_ladder_jobs_compute_the_rows_the_notebook_then_only_reads(tmp_path, monkeypatch):
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

    def no_evaluation(*args, **kwargs):
        raise AssertionError("a ladder rung was evaluated again")

    monkeypatch.setattr(search, "train_mask", no_training)
    monkeypatch.setattr(sensitivity, "ablated_accuracies", no_evaluation)
    table = sensitivity.lambda_sensitivity(candidates(TINY)[0], TINY, cache)
    assert len(table) == len(rungs(TINY))


def test_probe_jobs_compute_the_probes_the_notebook_then_only_reads(tmp_path, monkeypatch):
    """Notebook 04's probes (``sclib.experiments.probe``) on the pool, one job per base job."""
    import sclib.experiments.probe as probe

    cache = Cache(tmp_path)
    base_jobs = [j for j in plan_jobs([TINY]) if j.kind == "base"][:1]
    jobs = probe.probe_jobs(base_jobs)
    assert [j.needs for j in jobs] == [(base_jobs[0].name,)]
    assert jobs[0].name == base_jobs[0].name + " probes"
    run_job(base_jobs[0], tmp_path, 1)
    assert not job_cached(jobs[0], cache)
    run_job(jobs[0], tmp_path, 1)
    assert job_cached(jobs[0], cache)

    def no_probing(*args, **kwargs):
        raise AssertionError("a run was probed again")

    monkeypatch.setattr(probe, "odd_signal", no_probing)
    table = probe.probe_table({"vision": TINY}, {"vision": list(jobs[0].cells)}, cache)
    assert len(table) == len(jobs[0].cells) * len(probe.CONDITIONS)
