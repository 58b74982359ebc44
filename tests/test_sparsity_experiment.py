"""Issue #16's experiment: does weight sparsity amplify decomposition?

The runner of the sparsity cells (``sclib.experiments.sparsity``) and its committed results
(``sclib.experiments.sparsity_results``), the verdict rule on synthetic rows, one test per
outcome (``sclib.stats.sparsity``, ``sclib.stats.sparsity_verdict``), the figure
(``sclib.plots.sparsity``) and notebook 07 with ``TINY`` (papermill).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from sclib.experiments import sparsity as experiment
from sclib.experiments import sparsity_results
from sclib.experiments.profile_settings import PROFILES, notebook_profiles
from sclib.experiments.profiles import Cell
from sclib.experiments.sparsity import (
    QUICK_DENSITIES,
    STANDARD_DENSITIES,
    run_sparsity,
    sparse_profile,
    sparsity_cells,
    standard_sparsity,
)
from sclib.experiments.sparsity_results import read_results, standard_jobs, write_results
from sclib.plots.sparsity import sparsity_figure
from sclib.plots.style import save_figure
from sclib.stats.reference import paper_runs
from sclib.stats.sparsity import MARGIN, READINGS, sparsity_table
from sclib.stats.sparsity_verdict import verdict

ROOT = Path(__file__).resolve().parents[1]
VISION = PROFILES[("vision", "quick")]
QUICK = notebook_profiles("quick", ["vision", "language"])


# --- the experiment's arguments ---------------------------------------------------------


def test_sparse_profile_changes_the_density_only_and_dense_is_the_profile_itself():
    assert sparse_profile(VISION, 0.2).weight_density == 0.2
    assert sparse_profile(VISION, 0.2).lambdas == VISION.lambdas
    assert sparse_profile(VISION, 1.0) == VISION  # the dense notebooks' runs: same cache key
    assert sparse_profile(VISION, 1) == VISION


@pytest.mark.parametrize("density", [0, 0.0, -0.5, 1.5, True, "0.2", None])
def test_sparse_profile_rejects_a_density_outside_0_1(density):
    with pytest.raises(
        ValueError, match=rf"weight density must be a number in \(0, 1\].*got {density!r}"
    ):  # noqa: E501
        sparse_profile(VISION, density)


def test_quick_cells_are_the_first_subroutine_and_its_untrained_control():
    grid = sparsity_cells()
    assert grid == {
        "vision": [
            Cell("inside_contact", "resnet", "inside", "scratch"),
            Cell("inside_contact", "resnet", "inside", "untrained"),
        ],
        "language": [
            Cell("sv_agreement", "minilm", "subject", "scratch", "singular"),
            Cell("sv_agreement", "minilm", "subject", "untrained", "singular"),
        ],
    }
    assert QUICK_DENSITIES == (1.0, 0.2)


def test_standard_set_is_both_subroutines_three_seeds_five_densities():
    profiles, densities, grid = standard_sparsity()
    assert (
        densities
        == STANDARD_DENSITIES
        == {
            "vision": (1.0, 0.5, 0.2, 0.1, 0.05),
            "language": (1.0, 0.5, 0.2, 0.1, 0.01),
        }
    )
    assert {d: p.name for d, p in profiles.items()} == {
        "vision": "standard",
        "language": "standard",
    }
    for domain, cells in grid.items():
        assert len(cells) == 12, domain  # 2 subroutines x 2 regimes x 3 base seeds
        assert {c.base_seed for c in cells} == {0, 1, 2}
        assert {c.regime for c in cells} == {"scratch", "untrained"}
        assert len({c.subroutine for c in cells}) == 2


def test_unknown_domain_or_profile_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown domain 'visoin'; choose from: vision, language"):
        sparsity_cells(["visoin"])
    with pytest.raises(
        ValueError, match=r"unknown profile vision/huge; choose one of: vision/quick"
    ):
        sparsity_cells(["vision"], "huge")


@pytest.fixture
def no_training(monkeypatch):
    """``run_grid`` replaced by a recorder: what would have run, one fake row per cell."""
    calls = []

    def fake_run_grid(cells, profile, cache=None, progress=True):
        calls.append((profile.domain, profile.weight_density, list(cells)))
        return pd.DataFrame({"domain": profile.domain, "weight_density": profile.weight_density,
                             "regime": [c.regime for c in cells]})  # fmt: skip

    monkeypatch.setattr(experiment, "run_grid", fake_run_grid)
    return calls


@pytest.mark.parametrize("densities, match", [
    ((1.0, 0.0), r"weight density must be a number in \(0, 1\].*got 0.0"),
    ((1.0, 2), r"got 2"),
    ((), r"no weight density given"),
    ((0.2, 0.2), r"densities repeat a value"),
])  # fmt: skip
def test_run_sparsity_rejects_bad_densities_before_any_run(no_training, densities, match):
    with pytest.raises(ValueError, match=match):
        run_sparsity(QUICK, densities, sparsity_cells(), progress=False)
    assert no_training == []


def test_run_sparsity_rejects_an_unknown_domain_before_any_run(no_training):
    cells = {**sparsity_cells(), "audio": sparsity_cells()["vision"]}
    with pytest.raises(ValueError, match=r"unknown domain 'audio'; choose from: vision, language"):
        run_sparsity(QUICK, (1.0, 0.2), cells, progress=False)
    only_vision = {"vision": QUICK["vision"]}
    with pytest.raises(ValueError, match=r"unknown domain 'language'; choose from: vision$"):
        run_sparsity(only_vision, (1.0, 0.2), sparsity_cells(), progress=False)
    assert no_training == []


def test_a_bad_language_cell_stops_the_run_before_vision_trains(no_training):
    cells = {
        **sparsity_cells(),
        "language": [Cell("sv_agreement", "minilm", "subjekt", variant="singular")],
    }
    with pytest.raises(ValueError, match="subjekt"):
        run_sparsity(QUICK, (1.0, 0.2), cells, progress=False)
    assert no_training == []


def test_run_sparsity_runs_every_cell_at_every_density(no_training):
    rows = run_sparsity(QUICK, (1.0, 0.2), sparsity_cells(), progress=False)
    assert [(d, w) for d, w, _ in no_training] == [
        ("vision", 1.0), ("vision", 0.2), ("language", 1.0), ("language", 0.2)
    ]  # fmt: skip
    assert len(rows) == 8 and sorted(rows["weight_density"].unique()) == [0.2, 1.0]


def test_results_are_written_with_provenance_and_read_back(tmp_path):
    rows = one_seed(fake_rows({("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.5]}}))
    rows = rows.reset_index(drop=True)
    rows.loc[0, "excluded"] = True
    path, side = write_results(rows, tmp_path / "sparsity" / "runs.csv")
    back = read_results(path)
    assert back["excluded"].dtype == bool and back["excluded"].tolist() == [True, False]
    assert back["weight_density"].tolist() == [1.0, 0.2]
    record = json.loads(side.read_text())
    assert record["runs"]["n_runs"] == 2 and record["densities"] == [0.2, 1.0]
    assert "torch_version" in record["written_with"]
    assert read_results(tmp_path / "absent.csv") is None
    with pytest.raises(ValueError, match="weight_density"):
        write_results(rows.drop(columns="weight_density"), tmp_path / "x.csv")


# --- the verdict rule, on synthetic rows -------------------------------------------------


def fake_rows(cells: dict, spread: float = 0.02) -> pd.DataFrame:
    """Rows of Inside-Contact runs from ``{(subroutine, regime): {density: scores}}``: one
    score (a mean) gives three base seeds at ``mean - spread, mean, mean + spread``; a longer
    list one base seed per score."""
    rows = []
    for (subroutine, regime), levels in cells.items():
        for density, means in levels.items():
            scores = means if len(means) > 1 else [means[0] - spread, means[0], means[0] + spread]
            for seed, score in enumerate(scores):
                rows.append({
                    "domain": "vision", "task": "inside_contact", "architecture": "resnet",
                    "subroutine": subroutine, "variant": "none", "regime": regime,
                    "base_seed": seed, "mask_seed": 0, "weight_density": density,
                    "base_weight_density": density, "ablation_score": score,
                    "subnetwork_score": 0.5, "sampled_ablation_score": 0.01,
                    "kept_fraction": 0.05 * density, "base_comp_test_acc": 0.97,
                    "excluded": False, "mask_passed": True, "profile": "standard",
                })  # fmt: skip
    return pd.DataFrame(rows)


def one_seed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["base_seed"] == 0]


CONTROL = {("inside", "untrained"): {1.0: [0.0], 0.2: [0.02]},
           ("contact", "untrained"): {1.0: [0.01], 0.2: [-0.01]}}  # fmt: skip
AMPLIFY = {
    ("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.6]},  # modular dense, more so sparse
    ("contact", "scratch"): {1.0: [0.0], 0.2: [0.02]},  # not modular dense, stays so
    **CONTROL,
}
ENFORCE = {
    ("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.4]},
    ("contact", "scratch"): {1.0: [0.0], 0.2: [-0.4]},  # not modular dense, modular sparse
    **CONTROL,
}
NEITHER = {
    ("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.32]},  # modular, not amplified
    ("contact", "scratch"): {1.0: [0.0], 0.2: [0.0]},
    **CONTROL,
}

# amplified, but one cell not modular when dense becomes modular (and another does not:
# not every cell is modular sparse, so not "enforce" either)
PARTLY = {**AMPLIFY, ("number", "scratch"): {1.0: [0.0], 0.2: [-0.4]}}


@pytest.mark.parametrize("cells, reading", [
    (AMPLIFY, "amplify"), (ENFORCE, "enforce"), (NEITHER, "neither"), (PARTLY, "neither"),
])  # fmt: skip
def test_each_reading_comes_from_its_pattern(cells, reading):
    found = verdict(fake_rows(cells))
    assert found.reading == reading, found.text
    assert found.reading in READINGS
    assert found.text.startswith(found.headline)
    assert "inside_contact/inside (resnet, scratch): dense -0.30 (3 seeds" in found.text
    assert found.control_near_zero is True and not found.control_modular


def test_the_verdict_is_the_same_from_the_table():
    for cells in (AMPLIFY, ENFORCE, NEITHER, PARTLY):
        rows = fake_rows(cells)
        assert verdict(sparsity_table(rows)).reading == verdict(rows).reading


def test_one_seed_is_not_decidable_and_says_the_counts():
    found = verdict(one_seed(fake_rows(AMPLIFY)))
    assert found.reading == "not decidable at this scale"
    assert "fewer than 3 included base seeds in 4 of 4 (cell, density) groups" in found.text
    assert "(1 seed)" in found.text


def test_one_density_is_not_decidable():
    rows = fake_rows(AMPLIFY)
    found = verdict(rows[rows["weight_density"] == 1.0])
    assert found.reading == "not decidable at this scale"
    assert "fewer than 2 densities with included runs" in found.text


def test_excluded_runs_are_left_out_and_counted_and_can_make_it_undecidable():
    rows = fake_rows(AMPLIFY)
    bad = rows[(rows["subroutine"] == "inside") & (rows["regime"] == "scratch")].copy()
    bad["excluded"], bad["ablation_score"] = True, 0.7  # would undo the amplification
    table = sparsity_table(pd.concat([rows, bad], ignore_index=True))
    inside = table[(table["subroutine"] == "inside") & (table["regime"] == "scratch")]
    assert inside["n"].tolist() == [3, 3] and inside["n_excluded"].tolist() == [3, 3]
    assert inside["ablation_score"].round(6).tolist() == [-0.3, -0.6]
    assert verdict(table).reading == "amplify"
    sparse_gone = rows.copy()
    lost = (sparse_gone["subroutine"] == "inside") & (sparse_gone["weight_density"] == 0.2)
    sparse_gone.loc[lost & (sparse_gone["base_seed"] == 0), "excluded"] = True
    assert verdict(sparse_gone).reading == "not decidable at this scale"  # 2 seeds left


def test_the_t_test_guards_the_dense_reading():
    """Mean -0.30 but seeds spread from -0.9 to +0.3: not significant, so not modular when
    dense; made modular by sparsity, it turns an 'amplify' pattern into 'enforce'."""
    cells = {
        ("inside", "scratch"): {1.0: [-0.9, 0.3, -0.3], 0.2: [-0.6]},
        ("contact", "scratch"): {1.0: [-0.3], 0.2: [-0.6]},
    }
    found = verdict(fake_rows(cells))
    assert found.reading == "enforce", found.text
    assert not found.cells.set_index("subroutine").loc["inside", "dense_modular"]
    steady = {**cells, ("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.6]}}
    assert verdict(fake_rows(steady)).reading == "amplify"


def test_a_modular_untrained_sparse_control_is_flagged():
    cells = {**AMPLIFY, ("inside", "untrained"): {1.0: [0.0], 0.2: [-0.5]}}
    found = verdict(fake_rows(cells))
    assert found.control_modular and found.control_near_zero is False
    assert "sparsity itself, not learning, produces the effect" in found.text
    assert "sparsity itself" not in verdict(fake_rows(AMPLIFY)).text
    assert (
        verdict(fake_rows({k: v for k, v in AMPLIFY.items() if k[1] != "untrained"})).control == ""
    )


def test_the_margin_is_the_documented_one():
    assert MARGIN == 0.1


# --- the figure -------------------------------------------------------------------------


@pytest.mark.parametrize("cells, words", [
    (AMPLIFY, "Sparsity amplifies"), (ENFORCE, "Sparsity enforces"),
])  # fmt: skip
def test_the_figure_draws_and_its_title_is_the_verdict(tmp_path, cells, words):
    rows = fake_rows(cells)
    fig = sparsity_figure(rows)
    assert fig._suptitle.get_text().startswith(words)
    assert len(fig.axes) == 4  # one domain: a row of four panels
    assert [ax.get_xscale() for ax in fig.axes] == ["log"] * 4
    assert "nonzero weights" in fig.axes[2].get_ylabel()
    table = sparsity_table(rows)
    paths = save_figure(fig, tmp_path / "sparsity", table, runs=rows)
    plt.close(fig)
    assert [p.name for p in paths] == [
        "sparsity.png", "sparsity.pdf", "sparsity.csv", "sparsity.provenance.json"
    ]  # fmt: skip
    data = pd.read_csv(tmp_path / "sparsity.csv")
    assert sorted(data["weight_density"].unique()) == [0.2, 1.0]
    assert {"ablation_score", "sampled_ablation_score", "kept_fraction", "n_excluded"} <= set(data)


def test_the_figure_draws_a_table_and_the_paper_when_asked():
    table = sparsity_table(fake_rows(AMPLIFY))
    with pytest.raises(ValueError, match="paper_free=False"):
        sparsity_figure(table, paper_free=False)
    fig = sparsity_figure(table, paper_free=False, paper=paper_runs())
    assert "paper" in fig._suptitle.get_text() and "Grey crosses" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(ValueError, match="nothing to draw"):
        sparsity_figure(table.iloc[:0])


# --- notebook 07 ------------------------------------------------------------------------


@pytest.mark.slow
def test_07_sparsity_runs_with_tiny(tmp_path):
    papermill = pytest.importorskip("papermill")
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "07_sparsity.ipynb"),
        str(tmp_path / "07_sparsity.ipynb"),
        parameters={"TINY": True, "FIGURES": str(tmp_path)},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    for suffix in (".png", ".pdf", ".csv", ".provenance.json"):
        assert (tmp_path / f"sparsity{suffix}").stat().st_size > 0
    data = pd.read_csv(tmp_path / "sparsity.csv")
    assert sorted(data["weight_density"].unique()) == [0.2, 1.0]
    assert set(data["domain"]) == {"vision", "language"}
    assert data["base_weight_density"].between(0.15, 1.0).all()
    executed = (tmp_path / "07_sparsity.ipynb").read_text()
    assert "not decidable at this scale" in executed  # one seed cannot decide


def test_the_grid_jobs_of_the_standard_set_are_its_runs():
    """The grid (python -m sclib.grid run ... --weight-density) computes exactly the runs,
    under exactly the profiles, that run_sparsity(*standard_sparsity()) reads."""
    profiles, densities, grids = standard_sparsity()
    want = {
        (c, sparse_profile(profiles[d], x)) for d in grids for x in densities[d] for c in grids[d]
    }
    jobs = standard_jobs()
    got = [(c, j.profile) for j in jobs if j.kind == "base" for c in j.cells]
    assert len(got) == len(set(got)) == len(want) == 120 and set(got) == want
    assert len(jobs) == 60  # 2 domains x 5 densities x 3 seeds x (scratch, untrained)
    spares = {c.base_seed for j in standard_jobs(spares=True) for c in j.cells} - {0, 1, 2}
    assert spares == {3, 4}


def test_densities_per_domain_must_name_every_domain():
    profiles, _, grids = standard_sparsity()
    with pytest.raises(ValueError, match=r"no densities for domain\(s\) \['language'\]"):
        run_sparsity(profiles, {"vision": (1.0,)}, grids)
    with pytest.raises(ValueError, match="weight density must be a number in"):
        run_sparsity(profiles, {"vision": (1.0,), "language": (0.0,)}, grids)


def test_a_cell_without_sparse_runs_yet_says_so_not_nan():
    """A standard run collected in chunks: one cell has only its dense runs so far."""
    cells = {**AMPLIFY, ("number", "scratch"): {1.0: [-0.2]}}
    found = verdict(fake_rows(cells))
    assert "nan" not in found.text.lower()
    assert "number -0.20 -> no sparse run included yet" in found.summary


def test_a_run_off_its_target_density_is_left_out_and_counted():
    """A base model restored from a checkpoint before the annealing reached the target is
    not the level it is filed under."""
    rows = fake_rows(AMPLIFY)
    odd = (rows["subroutine"] == "inside") & (rows["weight_density"] == 0.2)
    odd &= rows["regime"] == "scratch"
    rows.loc[odd & (rows["base_seed"] == 0), "base_weight_density"] = 0.265
    table = sparsity_table(rows)
    inside = table[(table["subroutine"] == "inside") & (table["weight_density"] == 0.2)]
    inside = inside[inside["regime"] == "scratch"]
    assert inside[["n", "n_excluded", "n_off_density"]].values.tolist() == [[2, 1, 1]]
    assert verdict(rows).reading == "not decidable at this scale"  # 2 seeds left there


def test_run_standard_runs_a_spare_seed_only_where_a_base_model_failed(monkeypatch, tmp_path):
    """Vision base seed 2 fails at density 0.5 only: seed 3 runs there, nowhere else."""
    calls = []

    def fake_run_grid(cells, profile, cache=None, progress=True):
        cells = list(cells)
        calls.append((profile.domain, profile.weight_density, sorted({c.base_seed for c in cells})))
        failed = [
            profile.domain == "vision" and profile.weight_density == 0.5 and c.base_seed == 2
            and c.regime == "scratch" for c in cells
        ]  # fmt: skip
        return pd.DataFrame([
            {**vars(c), "domain": profile.domain, "profile": "standard",
             "weight_density": profile.weight_density, "excluded": bad,
             "exclusion_reason": "base model below the exclusion threshold" if bad else ""}
            for c, bad in zip(cells, failed, strict=True)
        ])  # fmt: skip

    monkeypatch.setattr(experiment, "run_grid", fake_run_grid)  # run_sparsity's
    monkeypatch.setattr(sparsity_results, "run_grid", fake_run_grid)  # the spare seeds'
    monkeypatch.setattr(sparsity_results, "write_results", lambda rows, path: [])
    rows = sparsity_results.run_standard(path=tmp_path / "runs.csv", progress=False)
    spares = [c for c in calls if c[2] != [0, 1, 2]]
    assert spares == [("vision", 0.5, [3])]
    at = rows[(rows["domain"] == "vision") & (rows["weight_density"] == 0.5)]
    assert len(at) == 16  # 12 of seeds 0-2 and 4 of seed 3 (2 subroutines x 2 regimes)


def test_collect_standard_lists_the_missing_jobs_but_not_spares_not_called_for(tmp_path):
    from sclib.experiments.cache import Cache

    rows, missing = sparsity_results.collect_standard(Cache(tmp_path), path=None)
    assert rows.empty and len(missing) == 60
    assert not any(name.endswith(("seed 3", "seed 4")) or " seed 3 " in name for name in missing)


def test_a_level_without_a_subnetwork_is_said_and_left_to_the_next_sparsest():
    """At 5% no mask of the inside cell reaches the selection threshold: its runs are
    excluded and counted, the verdict compares dense with 20%, and says where none passed."""
    rows = fake_rows({**AMPLIFY, ("inside", "scratch"): {1.0: [-0.3], 0.2: [-0.6], 0.05: [0.0]},
                      ("contact", "scratch"): {1.0: [0.0], 0.2: [0.02]}})  # fmt: skip
    failed = (rows["weight_density"] == 0.05) & (rows["regime"] == "scratch")
    rows.loc[failed, ["excluded", "mask_passed"]] = (True, False)
    rows.loc[failed, "exclusion_reason"] = "no subnetwork passed"
    table = sparsity_table(rows)
    at = table[(table["weight_density"] == 0.05) & (table["regime"] == "scratch")]
    assert at["n"].tolist() == [0] and at["n_no_subnetwork"].tolist() == [3]
    found = verdict(rows)
    assert found.reading == "amplify"
    assert (
        "No subnetwork reached the selection threshold (runs excluded) in 3 of 3 at density 0.05"
        in found.numbers
    )


def test_mask_overlap_chance_is_over_the_weights_that_exist():
    """Two masks keeping 10 of a layer's 100 weights share 1 by chance; when only 20 of
    them are nonzero (a sparse model), 5: chance overlap rises as the pool shrinks."""
    from sclib.stats.sparsity_overlap import overlap_by_density, pooled_overlap

    layer = {"domain": "vision", "task": "t", "architecture": "a", "regime": "scratch",
             "variant": "none", "size": 100, "kept_a": 10, "kept_b": 10, "intersection": 5,
             "union": 15}  # fmt: skip
    dense = pd.DataFrame([{**layer, "weight_density": 1.0, "base_seed": s} for s in (0, 1)])
    sparse = pd.DataFrame([{**layer, "weight_density": 0.2, "base_seed": 0, "support": 20}])
    pooled = pooled_overlap(pd.concat([dense, sparse], ignore_index=True))
    assert pooled["random_iou"].round(4).tolist() == [round(1 / 19, 4)] * 2 + [round(5 / 15, 4)]
    table = overlap_by_density(pooled)
    assert table["weight_density"].tolist() == [1.0, 0.2] and table["n"].tolist() == [2, 1]
    assert table["iou_over_random"].round(2).tolist() == [6.33, 1.0]


def test_trends_say_each_cell_dense_to_sparsest_from_the_table():
    from sclib.stats.sparsity_verdict import trends

    lines = trends(sparsity_table(fake_rows(AMPLIFY)))
    inside = next(line for line in lines if "/inside" in line)
    assert "ablation score -0.30 -> -0.60 (density 1 -> 0.2)" in inside
    assert "size-matched random ablation +0.01 -> +0.01" in inside
    assert not any("untrained" in line for line in lines)
