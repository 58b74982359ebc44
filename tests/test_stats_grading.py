"""sclib.stats.grading: the decomposition grade, cluster bootstrap, gaps and distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclib.stats.grading import (
    MIN_BOOTSTRAP_CLUSTERS,
    ablation_distribution,
    bootstrap_ci,
    decomposition_grade,
    distinct_resamples,
    gap_to_ideal,
    grade_components,
    graded_summary,
    interval_method,
)
from sclib.stats.reference import paper_runs

# --------------------------------------------------------------------------- grading

BASE = {"base_pm_target_acc": 1.0, "base_pm_other_acc": 1.0}


def _runs(**columns) -> pd.DataFrame:
    """A table of runs; scalars are repeated down the list columns (one row if none)."""
    has_lists = any(isinstance(v, list) for v in columns.values())
    return pd.DataFrame(columns, index=None if has_lists else [0])


def test_grade_is_one_for_perfect_and_zero_for_non_selective_runs():
    rows = pd.concat(
        [
            _runs(**BASE, zero_abl_acc_target=0.25, zero_abl_acc_other=1.0),  # perfect
            _runs(**BASE, zero_abl_acc_target=0.25, zero_abl_acc_other=0.25),  # both lost
            _runs(**BASE, zero_abl_acc_target=1.0, zero_abl_acc_other=1.0),  # neither
            _runs(**BASE, zero_abl_acc_target=1.0, zero_abl_acc_other=0.25),  # reversed
            _runs(**BASE, zero_abl_acc_target=0.1, zero_abl_acc_other=1.0),  # below chance
        ],
        ignore_index=True,
    ).assign(sampled_abl_acc_target=1.0, sampled_abl_acc_other=1.0)
    parts = grade_components(rows)
    assert parts["grade"].tolist() == [1.0, 0.0, 0.0, -1.0, 1.0]
    assert (parts["grade_kind"] == "random_corrected").all()


def test_random_ablation_that_is_just_as_selective_cancels_the_grade():
    rows = _runs(
        **BASE,
        zero_abl_acc_target=0.4,
        zero_abl_acc_other=0.9,
        sampled_abl_acc_target=0.4,
        sampled_abl_acc_other=0.9,
    )
    assert decomposition_grade(rows).item() == pytest.approx(0.0)
    assert decomposition_grade(rows, kind="zero_only").item() == pytest.approx(0.5 / 0.75)


def test_grade_needs_something_to_lose():
    rows = _runs(
        base_pm_target_acc=0.27,
        base_pm_other_acc=0.3,
        zero_abl_acc_target=0.25,
        zero_abl_acc_other=0.3,
        sampled_abl_acc_target=0.27,
        sampled_abl_acc_other=0.3,
    )
    assert np.isnan(decomposition_grade(rows).item())  # untrained base: headroom 0.02


def test_paper_rows_get_the_zero_only_grade():
    runs = paper_runs()
    parts = grade_components(runs)
    assert set(parts["grade_kind"]) == {"zero_only"}
    trained = runs["regime"] != "untrained"
    headroom = runs["base_comp_test_acc"].clip(lower=0.25) - 0.25
    expected = (-runs["ablation_score"] / headroom).clip(-1, 1)
    np.testing.assert_allclose(parts.loc[trained, "grade"], expected[trained], atol=1e-9)
    assert parts.loc[~trained, "grade"].isna().all()  # untrained controls: no base accuracy
    with pytest.raises(ValueError, match="random_corrected.*needs"):
        decomposition_grade(runs, kind="random_corrected")


def test_mixed_tables_are_graded_per_row():
    ours = _runs(
        **BASE,
        zero_abl_acc_target=0.25,
        zero_abl_acc_other=1.0,
        sampled_abl_acc_target=1.0,
        sampled_abl_acc_other=1.0,
    )
    paper = _runs(base_comp_test_acc=1.0, zero_abl_acc_target=0.25, zero_abl_acc_other=1.0)
    parts = grade_components(pd.concat([ours, paper], ignore_index=True))
    assert parts["grade_kind"].tolist() == ["random_corrected", "zero_only"]
    assert parts["grade"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------ bootstrap


def test_bootstrap_ci_contains_the_mean_and_is_deterministic():
    rng = np.random.default_rng(0)
    effects = rng.normal(0, 1, size=6)  # six base models, three runs each
    values = np.repeat(effects, 3) + rng.normal(0, 0.1, size=18)
    groups = np.repeat(list("abcdef"), 3)
    clustered = bootstrap_ci(values, groups, n_boot=500, seed=3)
    assert clustered.low < clustered.mean < clustered.high
    assert clustered.mean == pytest.approx(values.mean())
    assert bootstrap_ci(values, groups, n_boot=500, seed=3) == clustered
    assert bootstrap_ci(values, groups, n_boot=500, seed=4) != clustered
    naive = bootstrap_ci(values, n_boot=500, seed=3)  # runs as if independent: too narrow
    assert naive.high - naive.low < clustered.high - clustered.low


def test_few_clusters_give_a_t_interval_over_cluster_means():
    """3 base models: a percentile bootstrap has only C(5, 3) = 10 distinct resamples."""
    from scipy import stats as st

    values = [0.1, 0.2, 0.5, 0.6, 0.2, 0.4]
    groups = ["a", "a", "b", "b", "c", "c"]
    means = np.array([0.15, 0.55, 0.3])
    half = st.t(2).ppf(0.975) * means.std(ddof=1) / np.sqrt(3)
    est = bootstrap_ci(values, groups, seed=1)
    assert est.mean == pytest.approx(np.mean(values))
    assert (est.low, est.high) == pytest.approx((means.mean() - half, means.mean() + half))
    assert bootstrap_ci(values, groups, seed=2) == est  # no resampling: no seed dependence
    assert est.high - est.low > 0.5  # wider than any of the 10 resample means could span
    assert distinct_resamples(3) == 10 and interval_method(3) == "t(2) over cluster means"
    assert interval_method(MIN_BOOTSTRAP_CLUSTERS) == "cluster percentile bootstrap"


def test_bootstrap_ci_edge_cases():
    single = bootstrap_ci([0.1, 0.3, np.nan], groups=["a", "a", "b"])
    assert single.mean == pytest.approx(0.2) and np.isnan(single.low)  # one cluster left
    assert np.isnan(bootstrap_ci([]).mean)
    with pytest.raises(ValueError, match="one group per value"):
        bootstrap_ci([1.0, 2.0], groups=["a"])


def test_graded_summary_counts_runs_and_base_models():
    perfect = {"zero_abl_acc_target": 0.25, "zero_abl_acc_other": 1.0}
    rows = pd.DataFrame(
        [
            {**BASE, **perfect, "base_model_id": m, "subroutine": "inside", "excluded": False}
            for m in ("a", "a", "b", "c")
        ]
        + [{**BASE, **perfect, "base_model_id": "d", "subroutine": "inside", "excluded": True}]
        + [{**BASE, "zero_abl_acc_target": 1.0, "zero_abl_acc_other": 1.0,
            "base_model_id": "a", "subroutine": "contact", "excluded": False}]
    )  # fmt: skip
    rows = rows.assign(sampled_abl_acc_target=1.0, sampled_abl_acc_other=1.0)
    summary = graded_summary(rows, by=["subroutine"], n_boot=200).set_index("subroutine")
    assert summary.loc["inside", ["n_runs", "n_base_models"]].tolist() == [4, 3]
    assert summary.loc["inside", "grade_mean"] == 1.0
    assert summary.loc["inside", ["grade_low", "grade_high"]].tolist() == [1.0, 1.0]
    assert summary.loc["contact", "grade_mean"] == 0.0
    assert np.isnan(summary.loc["contact", "grade_low"])  # one base model: no interval
    assert summary.loc["inside", "grade_kind"] == "random_corrected"


def test_graded_summary_of_the_papers_runs():
    summary = graded_summary(paper_runs(), by=["domain", "regime", "subroutine"], n_boot=200)
    trained = summary[summary["regime"].isin(["scratch", "pretrained"])]
    assert (trained["grade_kind"] == "zero_only").all() and (trained["n_runs"] > 0).all()
    assert (trained["grade_low"] <= trained["grade_mean"]).all()
    assert (trained["grade_mean"] <= trained["grade_high"]).all()
    assert (summary.loc[summary["regime"] == "untrained", "n_runs"] == 0).all()


# ------------------------------------------------------------- gaps and distributions


def test_gap_to_ideal():
    rows = _runs(
        subroutine=["inside", "contact"],
        sub_acc_target=[0.9, 1.0],
        sub_acc_other=[0.45, 0.1],
        subnetwork_score=[0.45, 0.75],
    )
    gaps = gap_to_ideal(rows)
    assert gaps["subroutine"].tolist() == ["inside", "contact"]
    np.testing.assert_allclose(gaps["other_above_chance"], [0.2, 0.0])
    np.testing.assert_allclose(gaps["target_below_ideal"], [0.1, 0.0])
    np.testing.assert_allclose(gaps["score_gap"], [0.3, 0.0])


def test_ablation_distribution_labels_sources_and_drops_excluded():
    ours = _runs(
        source="sclib",
        profile="quick",
        task="inside_contact",
        ablation_score=[-0.2, 0.1],
        sampled_ablation_score=[0.0, 0.0],
        excluded=[False, True],
    )
    paper = paper_runs()
    long = ablation_distribution(ours, paper, ablations=("zero", "randomly_sampled"))
    counts = long.groupby(["source", "ablation"]).size()
    assert counts[("ours (quick profile)", "zero")] == 1
    assert counts[("ours (quick profile)", "randomly_sampled")] == 1
    assert counts[("paper", "zero")] == len(paper)
    assert ("paper", "randomly_sampled") not in counts  # the paper has no such column
    with pytest.raises(ValueError, match="unknown ablations"):
        ablation_distribution(ours, ablations=("zeroed",))
