"""Which base seeds a cell includes: the first that pass; spare seeds stand in for failures."""

from __future__ import annotations

import pandas as pd
import pytest

from sclib.experiments.jobs import plan_jobs
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import spare_seeds
from sclib.experiments.seeds import (
    BASE_FAILED,
    SPARE,
    TWIN_LEFT_OUT,
    included_seeds,
    needed_jobs,
)


def rows(scratch_failed=(), seeds=(0, 1, 2, 3), profile="standard", **extra):
    """Run rows of one cell: scratch and untrained at each base seed."""
    out = []
    for regime in ("scratch", "untrained"):
        for seed in seeds:
            failed = regime == "scratch" and seed in scratch_failed
            out.append(
                {
                    "profile": profile,
                    "domain": "vision",
                    "task": "inside_contact",
                    "architecture": "resnet",
                    "subroutine": "inside",
                    "variant": "none",
                    "regime": regime,
                    "base_seed": seed,
                    "mask_seed": 0,
                    "excluded": failed,
                    "exclusion_reason": BASE_FAILED if failed else "",
                    **extra,
                }
            )
    return pd.DataFrame(out)


def kept(table: pd.DataFrame, regime: str) -> list[int]:
    here = table[(table["regime"] == regime) & ~table["excluded"]]
    return sorted(here["base_seed"])


def test_a_spare_seed_stands_in_for_a_failed_one_and_the_control_follows_its_twin():
    table = included_seeds(rows(scratch_failed=(2,)))
    assert kept(table, "scratch") == [0, 1, 3]
    assert kept(table, "untrained") == [0, 1, 3]
    control = table[(table["regime"] == "untrained") & (table["base_seed"] == 2)].iloc[0]
    assert control["exclusion_reason"] == TWIN_LEFT_OUT
    assert control["exclusion_note"] == "included base seeds: 0, 1, 3"


def test_a_spare_not_needed_is_left_out_so_no_cell_picks_its_seeds():
    table = included_seeds(rows())
    assert kept(table, "scratch") == [0, 1, 2]
    spare = table[(table["regime"] == "scratch") & (table["base_seed"] == 3)].iloc[0]
    assert spare["excluded"] and spare["exclusion_reason"] == SPARE


def test_the_rule_is_idempotent_and_keeps_other_exclusions():
    table = rows(scratch_failed=(2,))
    table.loc[
        (table["regime"] == "scratch") & (table["base_seed"] == 1), ["excluded", "exclusion_reason"]
    ] = (
        True,
        "no subnetwork passed",
    )
    once = included_seeds(table)
    assert once.equals(included_seeds(once))
    # a mask that did not pass does not fail the base model: seed 1 still counts
    assert kept(once, "scratch") == [0, 3]
    assert once.loc[
        (once["regime"] == "scratch") & (once["base_seed"] == 1), "exclusion_reason"
    ].item() == ("no subnetwork passed")


def test_cells_at_other_densities_are_counted_apart():
    table = pd.concat([rows(scratch_failed=(2,), weight_density=1.0), rows(weight_density=0.5)])
    table = included_seeds(table.reset_index(drop=True))
    dense = table[table["weight_density"] == 1.0]
    sparse = table[table["weight_density"] == 0.5]
    assert kept(dense, "scratch") == [0, 1, 3] and kept(sparse, "scratch") == [0, 1, 2]


def test_a_one_seed_profile_keeps_its_one_seed():
    table = included_seeds(rows(seeds=(0,), profile="quick"))
    assert not table["excluded"].any()


def test_the_paper_rows_are_left_as_they_are():
    paper = rows(scratch_failed=(2,), source="paper")
    assert included_seeds(paper)["excluded"].tolist() == paper["excluded"].tolist()


def test_the_grid_runs_a_spare_seed_and_refuses_others_naming_the_valid():
    assert spare_seeds(get_profile("vision", "standard")) == (3, 4)
    assert spare_seeds(get_profile("vision", "paper")) == ()  # the paper replaced none
    jobs = plan_jobs(
        "standard",
        ["vision"],
        tasks=["inside_contact"],
        architectures=["resnet"],
        regimes=["scratch"],
        base_seeds=[3],
    )
    assert [j.name for j in jobs] == ["vision/standard inside_contact resnet scratch seed 3"]
    with pytest.raises(ValueError, match=r"base seed 7 .* \[0, 1, 2\], spare \[3, 4\]"):
        plan_jobs("standard", ["vision"], base_seeds=[7])


def spare_candidates():
    return plan_jobs(
        "standard", ["vision"], tasks=["inside_contact"], architectures=["resnet"],
        regimes=["scratch", "untrained"], base_seeds=[3, 4],
    )  # fmt: skip


def ran(failed=(), seeds=(0, 1, 2)):
    """Both subroutines' run rows of the base seeds run so far."""
    table = pd.concat(
        [
            rows(scratch_failed=failed, seeds=seeds).assign(subroutine=s)
            for s in ("inside", "contact")
        ]
    )
    return table.reset_index(drop=True)


def test_a_spare_job_is_called_for_only_after_a_failure_and_one_at_a_time():
    names = lambda jobs: sorted(j.name.split("resnet ")[1] for j in jobs)  # noqa: E731
    assert needed_jobs(spare_candidates(), ran()) == []  # every base passes
    assert needed_jobs(spare_candidates(), ran(seeds=(0, 1))) == []  # seed 2 has not run
    assert names(needed_jobs(spare_candidates(), ran(failed=(2,)))) == [
        "scratch seed 3", "untrained seed 3",
    ]  # fmt: skip
    # seed 3 failed too: seed 4 stands in as well; seed 3 passed: seed 4 is not called for
    assert names(needed_jobs(spare_candidates(), ran(failed=(2, 3), seeds=(0, 1, 2, 3)))) == [
        "scratch seed 3", "scratch seed 4", "untrained seed 3", "untrained seed 4",
    ]  # fmt: skip
    assert names(needed_jobs(spare_candidates(), ran(failed=(2,), seeds=(0, 1, 2, 3)))) == [
        "scratch seed 3", "untrained seed 3",
    ]  # fmt: skip


def test_no_spare_runs_where_the_spares_left_cannot_complete_the_cell():
    """Every base seed failed (a recipe the task does not learn under, not bad luck): two
    spares cannot fill three places, so none is spent; one failure of three can be."""
    names = lambda jobs: sorted(j.name.split("resnet ")[1] for j in jobs)  # noqa: E731
    assert needed_jobs(spare_candidates(), ran(failed=(0, 1, 2))) == []
    assert needed_jobs(spare_candidates(), ran(failed=(1, 2))) != []  # 1 passes + 2 spares
    # two failed and spare 3 failed too: spare 4 alone cannot make up two places (seed 3,
    # which could when it was called for, stays in the list as the rows call for it)
    after = needed_jobs(spare_candidates(), ran(failed=(1, 2, 3), seeds=(0, 1, 2, 3)))
    assert names(after) == ["scratch seed 3", "untrained seed 3"]


def test_a_dense_failure_calls_for_no_spare_at_another_density():
    sparse = [
        j for j in plan_jobs(
            "standard", ["vision"], tasks=["inside_contact"], architectures=["resnet"],
            regimes=["scratch"], base_seeds=[3], densities=[0.5],
        )
    ]  # fmt: skip
    assert needed_jobs(sparse, ran(failed=(2,)).assign(weight_density=1.0)) == []
    assert len(needed_jobs(sparse, ran(failed=(2,)).assign(weight_density=0.5))) == 1
