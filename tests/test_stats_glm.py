"""The paper's GLM statistics: long format, clustered tests, interactions, reliability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as st

from sclib.stats.glm import (
    PAPER_REFERENCE,
    ablation_test,
    interaction_test,
    long_format,
    paper_test,
)
from sclib.stats.reference import PUBLISHED_TESTS, paper_runs
from sclib.stats.reliability import cell_interactions, cell_tests, fraction_significant
from sclib.stats.scores import ablation_score


def _runs(target, other, n_models=3, regime="scratch", **cell) -> pd.DataFrame:
    """A tidy table: len(target) runs spread evenly over ``n_models`` base models."""
    n = len(target)
    return pd.DataFrame(
        {
            "task": cell.get("task", "inside_contact"),
            "architecture": "resnet",
            "subroutine": cell.get("subroutine", "inside"),
            "variant": "none",
            "regime": regime,
            "base_model_id": [f"m{i * n_models // n}" for i in range(n)],
            "zero_abl_acc_target": target,
            "zero_abl_acc_other": other,
        }
    )


def _noisy(mean_target, mean_other, seed, n=9, noise=0.03, **kwargs) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = np.clip(mean_target + rng.normal(0, noise, n), 0, 1)
    other = np.clip(mean_other + rng.normal(0, noise, n), 0, 1)
    return _runs(target, other, **kwargs)


@pytest.fixture(scope="module")
def paper():
    return paper_runs()


def test_long_format_rows_floor_and_clusters():
    runs = pd.concat(
        [_runs([0.1, 0.6], [1.0, 0.9]), _runs([0.5, 0.5], [0.5, 0.5], regime="untrained")]
    )
    long = long_format(runs, factor="regime")
    assert len(long) == 8 and list(long["Ablation"][:2]) == [1, 0]
    assert long["Performance"].tolist()[:4] == [0.25, 1.0, 0.6, 0.9]  # floored at chance
    # the untrained controls reuse the trained model's id: their clusters stay distinct
    assert long["cluster"].nunique() == 4 and set(long["Regime"]) == {"scratch", "untrained"}
    with pytest.raises(ValueError, match="zero_abl_acc_target"):
        long_format(runs.drop(columns="zero_abl_acc_target"))


def test_coefficient_is_the_mean_ablation_score():
    runs = _noisy(0.6, 0.8, seed=0)
    result = ablation_test(runs)
    expected = ablation_score(runs["zero_abl_acc_target"], runs["zero_abl_acc_other"]).mean()
    assert result.coef == pytest.approx(expected)
    assert (result.n_runs, result.n_clusters, result.term) == (9, 3, "Ablation")


def test_standard_error_is_rs_vcovcl_for_a_glm():
    """HC0 sandwich summed by cluster, times G / (G - 1), then a z test (R: coeftest)."""
    runs = _noisy(0.5, 0.9, seed=1, n=12, noise=0.1, n_models=4)
    long = long_format(runs)
    x = np.c_[np.ones(len(long)), long["Ablation"]]
    y = long["Performance"].to_numpy()
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    bread = np.linalg.inv(x.T @ x)
    scores = [
        x[g].T @ (y - x @ beta)[g] for g in (long["cluster"] == c for c in long["cluster"].unique())
    ]
    meat = sum(np.outer(s, s) for s in scores) * 4 / 3
    se = np.sqrt((bread @ meat @ bread)[1, 1])
    result = ablation_test(runs)
    assert result.se == pytest.approx(se)
    # default: two-sided, t with G - 1 = 3 degrees of freedom
    assert result.p_value == pytest.approx(2 * st.t(3).sf(abs(beta[1] / se)))
    assert result.reference == "t(G-1)"
    one_sided_z = ablation_test(runs, alternative="less", reference="z").p_value
    assert one_sided_z == pytest.approx(st.norm.cdf(beta[1] / se))


def test_default_is_two_sided():
    """The paper's linearHypothesis/coeftest are two-sided: twice the smaller one-sided p."""
    runs = _noisy(0.75, 0.9, seed=13, noise=0.08)
    two = ablation_test(runs)
    less = ablation_test(runs, alternative="less")
    greater = ablation_test(runs, alternative="greater")
    assert two.alternative == "two-sided" and 0 < less.p_value < 0.5
    assert two.p_value == pytest.approx(2 * min(less.p_value, greater.p_value))


def test_t_reference_with_three_base_models_is_more_conservative_than_z():
    runs = _noisy(0.7, 0.9, seed=14, noise=0.08)  # 3 base models
    t_test, z_test = ablation_test(runs), ablation_test(runs, reference="z")
    assert t_test.stat == z_test.stat and t_test.n_clusters == 3
    assert t_test.p_value == pytest.approx(2 * st.t(2).sf(abs(t_test.stat)))
    assert t_test.p_value > z_test.p_value
    with pytest.raises(ValueError, match="wild"):
        ablation_test(runs, reference="normal")


def test_wild_cluster_bootstrap_is_exact_with_few_clusters_and_seeded_with_many():
    few = _noisy(0.4, 0.95, seed=15)  # 3 clusters: all 6**3 Webb weight vectors
    p = ablation_test(few, reference="wild").p_value
    assert p == ablation_test(few, reference="wild", seed=99).p_value
    assert (p * 216) == pytest.approx(round(p * 216))
    many = _noisy(0.4, 0.95, seed=16, n=24, n_models=8)  # 6**8 > n_boot: seeded draws
    wild = ablation_test(many, reference="wild", n_boot=999, seed=1)
    assert wild.p_value < 0.01 and wild.reference == "wild cluster bootstrap (Webb)"
    assert wild == ablation_test(many, reference="wild", n_boot=999, seed=1)
    null = ablation_test(_noisy(0.9, 0.9, seed=17, n=24, n_models=8), reference="wild", n_boot=999)
    assert null.p_value > 0.05


def test_same_test_as_the_papers_own_formulation(paper):
    """The paper's R fits scores (subnetwork, ablation) ~ dummy and tests the ablation mean;
    ours fits floored accuracies ~ target/other: the same estimate, error and p-value."""
    cell = paper[
        (paper.task == "number_contact")
        & (paper.architecture == "resnet")
        & (paper.regime == "scratch")
        & (paper.subroutine == "contact")
    ]
    papers = pd.DataFrame(
        {
            "Performance": np.r_[cell["subnetwork_score"], cell["ablation_score"]],
            "Subnetwork": np.r_[np.ones(len(cell)), np.zeros(len(cell))],
            "g": np.r_[cell["base_model_id"], cell["base_model_id"]],
        }
    )
    groups = pd.factorize(papers["g"])[0]
    fit = smf.glm("Performance ~ Subnetwork", papers).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    n_models = cell["base_model_id"].nunique()
    se = np.sqrt(fit.cov_params().loc["Intercept", "Intercept"] * n_models / (n_models - 1))
    ours = ablation_test(cell)
    assert ours.coef == pytest.approx(fit.params["Intercept"], abs=1e-3)  # scores are rounded
    assert ours.se == pytest.approx(se, rel=0.02)


def test_strong_effect_is_significant_and_no_effect_is_not():
    assert ablation_test(_noisy(0.35, 0.95, seed=2)).p_value < 0.01
    base = np.linspace(0.7, 0.95, 9)
    flat = _runs(base, base + np.repeat([0.04, -0.04, 0.0], 3))  # mean score exactly 0
    result = ablation_test(flat)
    assert result.coef == pytest.approx(0.0) and result.p_value == pytest.approx(1.0)
    assert ablation_test(_noisy(0.9, 0.9, seed=3, noise=0.05)).p_value > 0.05
    # subnetwork score: target above other
    sub = _noisy(0.95, 0.4, seed=4).rename(
        columns={"zero_abl_acc_target": "sub_acc_target", "zero_abl_acc_other": "sub_acc_other"}
    )
    assert ablation_test(sub, prefix="sub_acc").p_value < 0.01


def test_degenerate_tables_give_nan_with_a_warning():
    with pytest.warns(UserWarning, match="at least 2 base models"):
        one = ablation_test(_noisy(0.3, 0.9, seed=5, n_models=1))
    assert np.isnan(one.p_value) and one.coef < 0 and one.n_clusters == 1
    with pytest.warns(UserWarning, match="at least 2 base models"):
        assert np.isnan(ablation_test(_runs([0.3], [0.9])).p_value)
    with pytest.warns(UserWarning, match="no variation"):
        assert np.isnan(ablation_test(_runs([0.9] * 6, [0.9] * 6)).p_value)
    exact = ablation_test(_runs([0.25] * 6, [1.0] * 6))  # every run the same, -0.75
    assert exact.se == 0 and exact.p_value == 0
    with pytest.raises(ValueError, match="two-sided"):
        ablation_test(_runs([0.3] * 6, [0.9] * 6), alternative="lower")


def test_interaction_is_the_difference_of_mean_scores():
    modular = _noisy(0.4, 0.95, seed=6)
    control = _noisy(0.9, 0.9, seed=7, regime="untrained")  # same base-model labels
    runs = pd.concat([modular, control])
    result = interaction_test(runs, levels=("scratch", "untrained"))
    means = [
        ablation_score(r["zero_abl_acc_target"], r["zero_abl_acc_other"]).mean()
        for r in (modular, control)
    ]
    assert result.coef == pytest.approx(means[1] - means[0]) and result.coef > 0.4
    assert result.p_value < 0.01 and result.n_clusters == 6
    twin = modular.assign(regime="untrained")
    twin["zero_abl_acc_target"] += np.repeat([0.02, -0.02, 0.0], 3)  # same mean score
    same = interaction_test(pd.concat([modular, twin]), levels=("scratch", "untrained"))
    assert same.coef == pytest.approx(0.0, abs=1e-9) and same.p_value > 0.5
    with pytest.warns(UserWarning, match="Regime"):
        assert np.isnan(interaction_test(modular, levels=("scratch", "untrained")).p_value)


def test_fraction_significant_per_regime():
    runs = pd.concat(
        [
            _noisy(0.4, 0.95, seed=9, subroutine="inside"),
            _noisy(0.9, 0.9, seed=10, noise=0.0, subroutine="contact"),  # no variation
            _noisy(0.4, 0.95, seed=11, subroutine="inside", regime="pretrained"),
            _noisy(0.3, 0.95, seed=12, subroutine="contact", regime="pretrained"),
        ]
    )
    summary = fraction_significant(runs).set_index("regime")
    assert summary.loc["pretrained", "fraction"] == 1.0
    assert summary.loc["scratch", ["n_cells", "n_significant", "n_untestable"]].tolist() == [
        2,
        1,
        1,
    ]
    assert len(cell_tests(runs)) == 4


def test_papers_cells(paper):
    """ResNet50 Inside-Contact Contact (arXiv 2301.10884: ablation score -.07; 2 base models after
    the exclusion) is not significant; from-scratch BERT's singular Subject (-.42) is."""
    cell = paper[
        (paper.task == "inside_contact")
        & (paper.architecture == "resnet")
        & (paper.regime == "scratch")
        & (paper.subroutine == "contact")
    ]
    result = ablation_test(cell)
    assert result.coef == pytest.approx(cell["ablation_score"].mean(), abs=1e-3)
    assert result.coef == pytest.approx(-0.07, abs=0.005) and result.n_clusters == 2
    assert 0.3 < result.p_value < 0.7  # t(1), two-sided
    assert 0.2 < paper_test(cell).p_value < 0.6  # the paper's z, two-sided
    tests = cell_tests(paper).set_index(["regime", "task", "subroutine", "variant"])
    assert (tests["reference"] == PAPER_REFERENCE).all()  # the paper's rows: its own test
    assert tests.loc[("scratch", "sv_agreement", "subject", "singular"), "p_value"].item() < 0.01
    # untrained BERT: positive ablation scores, never significantly negative
    reliability = fraction_significant(paper, by=("domain", "regime")).set_index(
        ["domain", "regime"]
    )
    assert reliability.loc[("language", "untrained"), "n_significant"] == 0
    assert reliability.loc[("language", "pretrained"), "fraction"] > 0.5
    assert (reliability["test"] == PAPER_REFERENCE).all()
    # the paper's cells: singular and plural pooled (4 language cells per trained regime)
    assert reliability.loc[("language", "scratch"), "n_cells"] == 4
    # trained vs untrained: the ablation score rises without training
    inter = cell_interactions(paper, levels=("scratch", "untrained"))
    assert (inter[inter["task"] == "sv_agreement"]["coef"] > 0).all()
    assert (inter["reference"] == PAPER_REFERENCE).all()  # the paper's own test on its rows
    ours = cell_interactions(paper, levels=("scratch", "untrained"), test="ours")
    assert np.allclose(ours["coef"], inter["coef"])  # the same contrast, another reference
    assert (ours["reference"] != PAPER_REFERENCE).all()


def test_interaction_with_one_base_model_per_regime_gives_the_difference_but_no_p_value():
    import warnings

    rows = pd.DataFrame(
        [
            {"base_model_id": f"{regime}-0", "regime": regime, "subroutine": "a",
             "zero_abl_acc_target": target, "zero_abl_acc_other": 1.0}
            for regime, target in (("scratch", 0.9), ("pretrained", 0.3))
            for _ in range(3)
        ]
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = interaction_test(rows, levels=("scratch", "pretrained"))
    assert result.coef == pytest.approx((0.3 - 1.0) - (0.9 - 1.0))
    assert np.isnan(result.p_value) and any("at least 2 in each" in str(w.message) for w in caught)


@pytest.mark.parametrize("row", PUBLISHED_TESTS.to_dict("records"), ids=lambda r: r["subroutine"])
def test_paper_test_reproduces_the_published_r_output(paper, row):
    """The authors' R notebooks (Main_Analysis.nb.html): estimate, error, chi-square, p."""
    cell = paper[
        (paper["task"] == row["task"])
        & (paper["model_folder"] == row["model_folder"])
        & (paper["subroutine"] == row["subroutine"])
    ]
    if row["contrast"] is None:
        cell = cell[cell["regime"] == "scratch"]
    result = paper_test(cell, levels=row["contrast"])
    assert result.coef == pytest.approx(row["coef"], abs=5e-7)
    assert result.se == pytest.approx(row["se"], abs=5e-7)
    assert result.stat**2 == pytest.approx(row["chisq"], rel=5e-4)
    expected = 2.2e-16 if np.isnan(row["p_value"]) else row["p_value"]
    assert result.p_value == pytest.approx(expected, rel=5e-4) or result.p_value < expected
    assert result.reference == PAPER_REFERENCE and result.alternative == "two-sided"


def test_paper_test_by_hand():
    """Scores ~ Ablation dummy; vcovCL = HC0 x G / (G - 1); chi-square on (Intercept) + Ablation."""
    rows = pd.DataFrame(
        {
            "base_model_id": ["a", "a", "b", "b", "c", "c"],
            "subnetwork_score": [0.5, 0.7, 0.4, 0.6, 0.5, 0.3],
            "ablation_score": [-0.2, -0.4, 0.0, -0.1, -0.3, -0.1],
        }
    )
    y = np.r_[rows["subnetwork_score"], rows["ablation_score"]]
    x = np.c_[np.ones(12), np.r_[np.zeros(6), np.ones(6)]]
    beta = np.linalg.solve(x.T @ x, x.T @ y)
    bread = np.linalg.inv(x.T @ x)
    groups = np.tile(np.repeat([0, 1, 2], 2), 2)
    u = [x[groups == g].T @ (y - x @ beta)[groups == g] for g in range(3)]
    cov = bread @ (sum(np.outer(s, s) for s in u) * 3 / 2) @ bread
    contrast = np.array([1.0, 1.0])
    coef, se = contrast @ beta, np.sqrt(contrast @ cov @ contrast)
    result = paper_test(rows)
    assert result.coef == pytest.approx(-0.1833333333) == pytest.approx(coef)
    assert result.se == pytest.approx(se)
    assert result.p_value == pytest.approx(st.chi2(1).sf((coef / se) ** 2))
    with pytest.warns(UserWarning, match="base model"):
        assert np.isnan(paper_test(rows.assign(base_model_id="a")).p_value)


def test_fraction_significant_counts_only_negative_effects():
    """Two-sided: a significantly *positive* ablation score is not 'significantly below 0'."""
    runs = pd.concat(
        [
            _noisy(0.4, 0.95, seed=18, n=12, n_models=6, subroutine="inside"),
            _noisy(0.95, 0.4, seed=19, n=12, n_models=6, subroutine="contact"),
        ]
    )
    tests = cell_tests(runs).set_index("subroutine")
    assert (tests["p_value"] < 0.01).all() and tests.loc["contact", "coef"] > 0
    summary = fraction_significant(runs).iloc[0]
    assert (summary["n_cells"], summary["n_significant"], summary["test"]) == (2, 1, "t(G-1)")
