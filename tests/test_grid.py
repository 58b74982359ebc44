"""The grid as jobs: planning, the command line, the scheduler (retries, status, resume,
the local pool's cap), failure reports and collect. Jobs here run a fake ``work`` except
in the one slow end-to-end test."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

from sclib.experiments.cache import Cache
from sclib.experiments.jobs import Job, JobFailed, job_cached, plan_jobs, run_job, run_key
from sclib.experiments.jobs_estimate import Timings, critical_paths
from sclib.experiments.jobs_pool import PoolOptions, read_status, run_jobs, status_path
from sclib.experiments.jobs_results import collect_jobs
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import cells
from sclib.grid import main
from sclib.stats.vocabulary import BASE_COLUMNS, REGIMES

# the fake work below runs in submitit's worker processes too: pickle it by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def fake_work(job: Job, cache_dir: str, threads: int | None) -> dict:
    """Stands in for run_job: logs when it ran, fails on request, stores fake run rows."""
    trace = Path(cache_dir) / "trace"
    trace.mkdir(parents=True, exist_ok=True)
    tag = job.name.replace("/", "_").replace(" ", "_")
    (trace / f"{tag}.start").write_text(f"{time.time()} {threads}")
    time.sleep(0.3)
    attempts = trace / f"{tag}.attempts"
    attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
    fail = (Path(cache_dir) / "fail").read_text() if (Path(cache_dir) / "fail").exists() else ""
    if job.cells[0].architecture in fail and ("once" not in fail or len(attempts.read_text()) == 1):
        raise JobFailed(f"job {job.name!r} failed at {job.cells[0]} (RuntimeError: boom)")
    (trace / f"{tag}.end").write_text(str(time.time()))
    cache = Cache(cache_dir)
    for cell in job.cells:
        row = {**cell.__dict__, "profile": job.profile.name, "domain": job.profile.domain}
        cache.save("runs", run_key(cell, job.profile), {**row, "ablation_score": 0.5})
    return {"job": job.name}


def debug(**kw) -> PoolOptions:
    return PoolOptions(executor="debug", poll_s=0.05, **kw)


# ---------------------------------------------------------------- planning


def test_full_grid_has_one_job_per_base_model_and_every_cell_once():
    for domain in ("vision", "language"):
        jobs = [j for j in plan_jobs("full", [domain]) if j.kind == "base"]
        bases = [tuple(getattr(j.cells[0], f) for f in BASE_COLUMNS) for j in jobs]
        assert len(bases) == len(set(bases))
        assert sorted(map(repr, (c for j in jobs for c in j.cells))) == sorted(
            map(repr, cells(get_profile(domain, "full")))
        )


def test_self_supervised_pretraining_runs_first_and_is_needed():
    jobs = plan_jobs("full", ["vision"], architectures=["resnet"], regimes=["pretrained"])
    assert [j.kind for j in jobs] == ["pretraining"] * 3 + ["base"] * 9  # pretraining first
    pre = {j.name for j in jobs if j.kind == "pretraining"}
    assert len(pre) == 3  # one per base seed, shared by the three tasks
    assert all(j.needs and set(j.needs) <= pre for j in jobs if j.kind == "base")
    packaged = plan_jobs("full", ["vision"], architectures=["efficientnet_lite0"])
    assert all(j.kind == "base" for j in packaged)  # ImageNet: no pretraining job
    names = {j.name for j in packaged}
    for job in packaged:  # an untrained control waits for its scratch twin, nothing else does
        twin = job.name.replace(" untrained ", " scratch ")
        expected = (twin,) if " untrained " in job.name else ()
        assert job.needs == expected and set(job.needs) <= names


def test_weight_densities_make_one_job_per_density_each_control_after_its_twin():
    axes = dict(
        tasks=["inside_contact"], architectures=["resnet"], regimes=["scratch", "untrained"]
    )
    dense = plan_jobs("standard", ["vision"], **axes)
    jobs = plan_jobs("standard", ["vision"], **axes, base_seeds=[1], densities=[1, 0.2])
    assert [(j.cells[0].regime, j.profile.weight_density) for j in jobs] == [
        ("scratch", 1.0), ("untrained", 1.0), ("scratch", 0.2), ("untrained", 0.2)
    ]  # fmt: skip
    assert {c.base_seed for j in jobs for c in j.cells} == {1}
    assert jobs[0].name == dense[1].name and jobs[0].profile == dense[1].profile  # 1.0: dense
    assert jobs[2].name.endswith("seed 1 density 0.2")
    assert jobs[3].needs == (jobs[2].name,) and jobs[1].needs == (jobs[0].name,)
    assert len({j.name for j in jobs}) == len(jobs)


def test_tiny_profile_covers_both_domains():
    jobs = plan_jobs("tiny")
    assert [j.profile.domain for j in jobs] == ["vision", "language"]
    assert all(j.profile.name == "tiny" and len(j.cells) == 2 for j in jobs)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", "--profile", "huge"], "invalid choice: 'huge'"),
        (["plan", "--profile", "quick", "--architecture", "vgg"], "unknown architecture 'vgg'"),
        (["plan", "--profile", "quick", "--task", "inside"], "unknown task 'inside'"),
        (["plan", "--profile", "quick", "--domain", "audio"], "unknown domain 'audio'"),
        (["plan", "--profile", "quick", "--regime", "frozen"], "unknown regime 'frozen'"),
        (["run", "--profile", "tiny", "--workers", "0"], "workers must be at least 1"),
        (["run", "--profile", "tiny", "--executor", "ray"], "invalid choice: 'ray'"),
        (["plan", "--profile", "quick", "--task", "anaphora", "--domain", "vision"], "no cells"),
        (["plan", "--profile", "standard", "--seed", "7"], "base seed 7 is not one of"),
        (["plan", "--profile", "standard", "--seed", "one"], "comma-separated ints, got 'one'"),
        (["plan", "--profile", "quick", "--weight-density", "0"], "got 0.0"),
        (["plan", "--profile", "quick", "--weight-density", "0.2,0.2"], "repeat a value"),
    ],
)
def test_bad_arguments_fail_before_any_work(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--cache-dir", str(tmp_path)])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "grid").exists()


def test_slurm_without_sbatch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="needs sbatch on PATH"):
        PoolOptions(executor="slurm")


def test_plan_lists_jobs_and_estimates_without_running(tmp_path, capsys):
    assert main(["plan", "--profile", "quick", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(plan_jobs("quick")) + 1
    assert "resnet scratch seed 0: 2 cells; ~" in lines[0]
    # vision scratch 320 s; the pretrained MiniLM trains 8 epochs where the profile's base
    # trains 2 (profiles.PRETRAINED_BASE): 4 x 120 s, then two cells of 90 s
    assert lines[-1].startswith("2 jobs, 0 cached; to run: ~0.27 CPU-hours")
    assert not (tmp_path / "runs").exists()


def test_estimates_prefer_measured_timings():
    job = plan_jobs("quick", ["vision"])[0]
    rows = pd.DataFrame(
        [dict(domain="vision", profile="quick", architecture="resnet", regime="scratch",
              base_train_time_s=100.0, mask_train_time_s=20.0, n_grid_points=2, device="NVIDIA H100")]
    )  # fmt: skip
    seconds, device = Timings.from_runs(rows).estimate(job)
    assert device == "gpu" and math.isclose(seconds, 100 + 2 * (2 * 20 + 10))
    # an untrained control never measured: no base model, one mask a cell at scratch's cost
    (control,) = plan_jobs("quick", ["vision"], regimes=["untrained"])
    seconds, _ = Timings.from_runs(rows).estimate(control)
    assert math.isclose(seconds, 0 + 2 * (1 * 20 + 10))


def test_estimates_follow_the_jobs_own_recipe_and_a_ladder_part_its_rungs():
    """Without measured timings: a base model's seconds scale with its own recipe's epochs,
    an untrained control trains none, and a ladder job costs a mask and an evaluation per
    rung of its part."""
    from sclib.experiments.ladder import ladder_jobs, rungs

    none = Timings.from_runs(pd.DataFrame())
    scratch, pretrained, control = plan_jobs("quick", ["language"], regimes=list(REGIMES))
    assert (scratch.cells[0].regime, pretrained.cells[0].regime) == ("scratch", "pretrained")
    assert math.isclose(none.estimate(scratch)[0], 120 + 2 * 90)  # quick's 2 epochs
    assert math.isclose(none.estimate(pretrained)[0], 4 * 120 + 2 * 90)  # 8 epochs
    assert math.isclose(none.estimate(control)[0], 0 + 2 * (40 + 10))
    profile = get_profile("language", "quick")
    first, second = ladder_jobs(profile, parts=2)
    assert len(rungs(profile, first.part)) + len(rungs(profile, second.part)) == 9
    assert math.isclose(none.estimate(first)[0], len(rungs(profile, first.part)) * 50)


# ---------------------------------------------------------------- the scheduler


def test_the_pool_starts_the_ready_job_with_the_longest_chain_behind_it_first(tmp_path):
    """The plan lists the scratch MiniLM first; its 8-epoch pretrained twin is the longer job
    (its chain: 660 s against 300 + 100 for scratch and its control), so it starts first."""
    jobs = plan_jobs("quick", ["language"], regimes=list(REGIMES))
    assert [j.cells[0].regime for j in jobs] == ["scratch", "pretrained", "untrained"]
    paths = critical_paths(jobs, Timings.from_runs(pd.DataFrame()))
    assert [round(paths[j.name]) for j in jobs] == [400, 660, 100]
    run_jobs(jobs, tmp_path, "quick", debug(), progress=False, work=fake_work)
    starts = {p.name: float(p.read_text().split()[0]) for p in (tmp_path / "trace").glob("*.start")}
    order = sorted(starts, key=starts.get)
    assert ["pretrained" in order[0], "scratch" in order[1], "untrained" in order[2]] == [True] * 3


def test_jobs_run_status_is_written_and_a_second_run_skips_them(tmp_path):
    jobs = plan_jobs("tiny")
    records = run_jobs(jobs, tmp_path, "tiny", debug(), progress=False, work=fake_work)
    assert all(r["state"] == "done" and r["attempts"] == 1 for r in records.values())
    status = json.loads(status_path(tmp_path, "tiny").read_text())
    assert set(status["jobs"]) == {j.name for j in jobs}
    assert all(job_cached(j, Cache(tmp_path)) for j in jobs)
    again = run_jobs(jobs, tmp_path, "tiny", debug(), progress=False, work=fake_work)
    assert all(r["attempts"] == 0 for r in again.values())  # cached: nothing submitted
    assert len(list((tmp_path / "trace").glob("*.start"))) == 2


def test_a_failed_job_is_retried_then_reported_with_its_cell(tmp_path):
    (tmp_path / "fail").write_text("resnet once")
    records = run_jobs(plan_jobs("tiny"), tmp_path, "tiny", debug(retries=1), False, fake_work)
    vision = records["vision/tiny inside_contact resnet scratch seed 0"]
    assert vision["state"] == "done" and vision["attempts"] == 2

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "fail").write_text("minilm")
    jobs = plan_jobs("tiny", ["language"])
    records = run_jobs(jobs, tmp_path / "b", "tiny", debug(retries=2), False, fake_work)
    (failed,) = records.values()
    assert failed["state"] == "failed" and failed["attempts"] == 3
    assert "failed at Cell(task='sv_agreement'" in failed["error"]
    on_disk = read_status(status_path(tmp_path / "b", "tiny"))
    assert on_disk[jobs[0].name]["error"] == failed["error"]


def test_a_job_whose_pretraining_failed_is_reported_not_run(tmp_path):
    jobs = plan_jobs("quick", ["vision"], regimes=["pretrained"])
    (tmp_path / "fail").write_text("resnet")
    records = run_jobs(jobs, tmp_path, "quick", debug(retries=0), False, fake_work)
    pre, base = (records[j.name] for j in jobs)
    assert pre["state"] == "failed" and base["state"] == "failed" and base["attempts"] == 0
    assert base["error"] == f"not run: it needs {jobs[0].name!r}, which failed"


def test_run_job_reports_the_failing_cell_and_traceback(tmp_path):
    (job,) = plan_jobs("tiny", ["vision"])
    bad = Job("base", job.profile, (job.cells[0].__class__(**{**job.cells[0].__dict__,
              "subroutine": "colour"}),))  # fmt: skip
    with pytest.raises(JobFailed) as error:
        run_job(bad, tmp_path, threads=1)
    text = str(error.value)
    assert "failed at Cell(task='inside_contact'" in text and "subroutine='colour'" in text
    assert "Traceback (most recent call last)" in text and "colour" in text.splitlines()[-1]


@pytest.mark.slow
def test_local_pool_caps_concurrency_and_splits_the_cores(tmp_path):
    jobs = plan_jobs("full", ["vision"], tasks=["inside_contact"], regimes=["scratch"])[:3]
    options = PoolOptions(executor="local", workers=2, threads=None, poll_s=0.1)
    records = run_jobs(jobs, tmp_path, "full", options, progress=False, work=fake_work)
    assert all(r["state"] == "done" for r in records.values())
    trace = tmp_path / "trace"
    spans = []
    for start in trace.glob("*.start"):
        began, threads = start.read_text().split()
        spans.append((float(began), float(start.with_suffix(".end").read_text())))
        assert threads == str(options.worker_threads)
    overlap = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert overlap <= 2 and len(spans) == 3


# ---------------------------------------------------------------- collect


def test_collect_keeps_the_profiles_runs_and_says_what_is_missing(tmp_path, capsys):
    (tmp_path / "fail").write_text("minilm")
    run_jobs(plan_jobs("tiny"), tmp_path, "tiny", debug(retries=0), False, fake_work)
    other = plan_jobs("quick", ["vision"])[0]  # another profile's rows stay out
    fake_work(other, str(tmp_path), 1)
    out = tmp_path / "runs.csv"
    assert (
        main(["collect", "--profile", "tiny", "--cache-dir", str(tmp_path), "--out", str(out)]) == 1
    )
    table = pd.read_csv(out)
    assert list(table["profile"]) == ["tiny", "tiny"] and set(table["task"]) == {"inside_contact"}
    assert {"run_id", "current"} <= set(table.columns)
    printed = capsys.readouterr().out
    assert "missing language/tiny sv_agreement minilm pretrained singular seed 0" in printed
    assert "2/2 runs missing; failed after 1 attempt(s)" in printed and "boom" in printed
    _, missing = collect_jobs(plan_jobs("tiny", ["vision"]), Cache(tmp_path), "tiny")
    assert missing == {}


@pytest.mark.slow
def test_tiny_grid_runs_end_to_end_on_the_local_pool(tmp_path, capsys):
    args = ["--profile", "tiny", "--domain", "vision", "--cache-dir", str(tmp_path)]
    assert main(["run", *args, "--executor", "local", "--workers", "1", "--quiet"]) == 0
    out = tmp_path / "runs.csv"
    assert main(["collect", *args, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 and table["subnetwork_score"].notna().all()
    kept = pd.read_csv(tmp_path / "kept.csv")  # notebook 04's mask tables, beside the runs
    assert set(kept["subroutine"]) == set(table["subroutine"]) and (kept["kept"] >= 0).all()
    assert (tmp_path / "overlap.csv").exists()
    main(["plan", *args])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("1 jobs, 1 cached")


def test_prefetch_runs_nothing_when_the_committed_table_holds_every_cell(tmp_path, monkeypatch):
    """`make figures PROFILE=standard` redraws from data/results in seconds: the notebooks'
    runs are not recomputed when the committed table has them all."""
    import pandas as pd

    from sclib import notebooks
    from sclib.experiments import collect
    from sclib.experiments.jobs import plan_jobs

    jobs = plan_jobs("tiny", regimes=["scratch", "pretrained", "untrained"])
    rows = [
        {"domain": job.profile.domain, **dataclasses.asdict(cell)}
        for job in jobs
        if job.kind == "base"
        for cell in job.cells
    ]
    (tmp_path / "tiny").mkdir()
    pd.DataFrame(rows[:-1]).to_csv(tmp_path / "tiny" / "runs.csv", index=False)
    monkeypatch.setattr(collect, "RESULTS_DIR", tmp_path)
    assert not notebooks.all_committed(jobs)  # one cell missing: the grid must run
    pd.DataFrame(rows).to_csv(tmp_path / "tiny" / "runs.csv", index=False)
    assert notebooks.all_committed(jobs)


def test_prefetch_of_notebook_07_takes_other_domains_and_refuses_unknown_ones():
    """The figure smoke test runs notebook 07 on fewer domains than its default: the prefetch
    then plans exactly those (and names the valid ones for a domain the notebook lacks)."""
    from sclib import notebooks

    jobs = notebooks.sparsity_prefetch("quick", ["vision"])
    assert jobs and {j.profile.domain for j in jobs} == {"vision"}
    with pytest.raises(ValueError, match=r"no domain \['audio'\]; choose from: vision, language"):
        notebooks.sparsity_prefetch("quick", ["vision", "audio"])


def test_prefetch_computes_notebook_07s_sparse_runs_on_the_pool_with_its_defaults():
    """`make figures` computes notebook 07's sparse base models on the pool beside 02-04's runs,
    at the densities and domains the notebook runs by default, each control after its twin;
    its dense runs are notebook 03's (in the plan already), so none is planned twice."""
    from sclib import notebooks
    from sclib.experiments.sparsity import sparsity_cells

    defaults = notebooks.notebook_defaults(notebooks.SPARSITY_NOTEBOOK)
    jobs = notebooks.sparsity_prefetch("quick")
    sparse = sorted(d for d in defaults["DENSITIES"] if d < 1)
    assert sparse and sorted({j.profile.weight_density for j in jobs}) == sparse
    assert {j.profile.domain for j in jobs} == set(defaults["DOMAINS"])
    wanted = sparsity_cells(defaults["DOMAINS"], "quick")
    planned = [(j.profile.weight_density, c) for j in jobs for c in j.cells]
    assert sorted(planned, key=repr) == sorted(
        ((d, c) for cells in wanted.values() for c in cells for d in sparse), key=repr
    )
    names = {j.name for j in jobs}
    for job in jobs:
        if job.cells[0].regime == "untrained":
            assert len(job.needs) == 1 and job.needs[0] in names


def test_collect_takes_no_run_keyed_otherwise_than_the_code_keys_it_now(tmp_path, monkeypatch):
    """A pretrained cell's run from before its regime got a base training of its own
    (``profiles.PRETRAINED_BASE``) stays in the cache under its old key: collect must not
    take it for the run the code would compute now, nor decide spare seeds on it."""
    from sclib.experiments import profiles
    from sclib.experiments.collect import cached_choices

    jobs = plan_jobs("tiny", domains=["vision"], regimes=["scratch", "pretrained"])
    base_jobs = [j for j in jobs if j.kind == "base"]
    cache = Cache(tmp_path)
    for job in base_jobs:
        for cell in job.cells:  # every run stored under the key it has without an override
            row = {"domain": "vision", **dataclasses.asdict(cell), "profile": "tiny"}
            cache.save("runs", {"cell": cell, "profile": job.profile}, row)
    table, missing = collect_jobs(jobs, cache, "tiny")
    assert len(table) == sum(len(j.cells) for j in base_jobs) and not missing

    recipe = dataclasses.replace(base_jobs[0].profile.base, epochs=3)
    monkeypatch.setitem(profiles.PRETRAINED_BASE, ("vision", "tiny"), recipe)
    choices = cached_choices(cache)
    assert choices.loc[choices["regime"] == "pretrained", "keyed_now"].eq(False).all()
    assert choices.loc[choices["regime"] == "scratch", "keyed_now"].all()
    table, missing = collect_jobs(jobs, cache, "tiny")
    assert set(table["regime"]) == {"scratch"}
    assert [name for name in missing if "pretrained" in name]


def test_another_profiles_figures_leave_the_quick_figures_as_they_are():
    """`make figures PROFILE=standard` writes into figures/standard/; quick into figures/."""
    from sclib import notebooks

    found = {nb.name[:2]: nb for nb in notebooks.numbered_notebooks()}
    assert notebooks.parameters(found["02"], "quick") == {
        "PROFILE": "quick", "FIGURES": "../figures"
    }  # fmt: skip
    assert notebooks.parameters(found["02"], "standard")["FIGURES"] == "../figures/standard"
    assert notebooks.parameters(found["01"], "standard") == {"PROFILE": "standard"}  # no FIGURES
    for nb in found.values():
        if "FIGURES" in notebooks.notebook_defaults(nb.name):
            assert notebooks.notebook_defaults(nb.name)["FIGURES"] == notebooks.figure_dir("quick")
