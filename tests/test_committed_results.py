"""Notebooks draw the committed results table of a profile instead of recomputing."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

import sclib.experiments.collect as collect
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, tiny_profile

PROFILE = tiny_profile(get_profile("vision", "quick"))
CELLS = [
    Cell("inside_contact", "resnet", "inside"),
    Cell("inside_contact", "resnet", "contact"),
]


def _table(cell_list, **extra) -> pd.DataFrame:
    rows = [
        {**vars(c), "domain": "vision", "profile": "tiny", "ablation_score": -0.1 * i, **extra}
        for i, c in enumerate(cell_list)
    ]
    return pd.DataFrame(rows)


def _write(tmp_path, table: pd.DataFrame):
    (tmp_path / PROFILE.name).mkdir()
    table.to_csv(tmp_path / PROFILE.name / "runs.csv", index=False)


def test_committed_rows_in_the_order_asked_with_booleans(tmp_path):
    _write(tmp_path, _table(CELLS, excluded=False, mask_passed=True))
    rows = collect.committed_runs(PROFILE, CELLS[::-1], tmp_path)
    assert list(rows["subroutine"]) == ["contact", "inside"]
    assert rows["excluded"].dtype == bool and not rows["excluded"].any()
    assert rows["mask_passed"].all()


def test_a_missing_cell_or_table_means_none(tmp_path):
    assert collect.committed_runs(PROFILE, CELLS, tmp_path) is None  # no table
    _write(tmp_path, _table(CELLS[:1]))
    assert collect.committed_runs(PROFILE, CELLS, tmp_path) is None  # one cell missing
    other_seed = replace(CELLS[0], base_seed=1)
    assert collect.committed_runs(PROFILE, [other_seed], tmp_path) is None


def test_rows_of_another_domain_never_count(tmp_path):
    _write(tmp_path, _table(CELLS).assign(domain="language"))
    assert collect.committed_runs(PROFILE, CELLS, tmp_path) is None


def test_notebook_rows_read_the_table_and_run_nothing(tmp_path, monkeypatch, capsys):
    _write(tmp_path, _table(CELLS))

    def no_running(*args, **kwargs):
        raise AssertionError("run_grid called although the committed table has every cell")

    monkeypatch.setattr(collect, "run_grid", no_running)
    tables = collect.notebook_rows({"vision": PROFILE}, {"vision": CELLS}, results_dir=tmp_path)
    assert list(tables["vision"]["ablation_score"]) == pytest.approx([0.0, -0.1])
    assert "2 runs from data/results/tiny" in capsys.readouterr().out


def test_notebook_rows_run_what_is_not_committed(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(collect, "run_grid", lambda c, p, cache: ran.append(c) or _table(c))
    tables = collect.notebook_rows({"vision": PROFILE}, {"vision": CELLS}, results_dir=tmp_path)
    assert list(tables["vision"]["subroutine"]) == ["inside", "contact"] and ran == [CELLS]


STANDARD = get_profile("vision", "standard")
FAILED = "base model below the exclusion threshold"


def _seeds_table(seeds, failed=()) -> pd.DataFrame:
    cells = [replace(c, base_seed=s) for s in seeds for c in CELLS]
    table = _table(cells, profile="standard", excluded=False, exclusion_reason="")
    bad = table["base_seed"].isin(failed)
    table.loc[bad, "excluded"], table.loc[bad, "exclusion_reason"] = True, FAILED
    return table


def test_a_committed_spare_seed_comes_with_the_cells_it_stands_in_for(tmp_path):
    (tmp_path / "standard").mkdir()
    _seeds_table((0, 1, 2, 3), failed=(2,)).to_csv(tmp_path / "standard" / "runs.csv", index=False)
    grid = [replace(c, base_seed=s) for s in (0, 1, 2) for c in CELLS]
    rows = collect.committed_runs(STANDARD, grid, tmp_path)
    assert len(rows) == 8
    assert sorted(set(rows.loc[~rows["excluded"], "base_seed"])) == [0, 1, 3]


def test_the_notebooks_run_a_spare_seed_where_a_base_model_failed(tmp_path, monkeypatch):
    ran = []

    def run_grid(cells, profile, cache):
        ran.append(sorted({c.base_seed for c in cells}))
        return _seeds_table(sorted({c.base_seed for c in cells}), failed=(2,))

    monkeypatch.setattr(collect, "run_grid", run_grid)
    grid = [replace(c, base_seed=s) for s in (0, 1, 2) for c in CELLS]
    rows = collect.notebook_rows({"vision": STANDARD}, {"vision": grid}, results_dir=tmp_path)
    assert ran == [[0, 1, 2], [3]]  # seed 3 stands in for seed 2; seed 4 is not called for
    table = rows["vision"]
    assert sorted(set(table.loc[~table["excluded"], "base_seed"])) == [0, 1, 3]


def test_a_table_being_filled_is_read_whole_for_drawing(tmp_path):
    assert collect.committed_table(PROFILE.name, results_dir=tmp_path) is None  # no table
    _write(tmp_path, _table(CELLS[:1], excluded="True", mask_passed="False"))
    rows = collect.committed_table(PROFILE.name, ["vision"], tmp_path)
    assert len(rows) == 1 and rows["excluded"].all() and not rows["mask_passed"].any()
    assert collect.committed_table(PROFILE.name, ["language"], tmp_path) is None


def test_drawn_from_table_only_when_every_domain_has_every_cell(tmp_path):
    assert not collect.drawn_from_table({"vision": PROFILE}, {"vision": CELLS}, tmp_path)
    _write(tmp_path, _table(CELLS))
    assert collect.drawn_from_table({"vision": PROFILE}, {"vision": CELLS}, tmp_path)
    more = [*CELLS, replace(CELLS[0], base_seed=1)]
    assert not collect.drawn_from_table({"vision": PROFILE}, {"vision": more}, tmp_path)


def test_the_mask_tables_beside_a_committed_table_are_read_back(tmp_path):
    from sclib.experiments.collect_masks import MASK_TABLES, committed_mask_tables

    assert committed_mask_tables("tiny", tmp_path) is None
    (tmp_path / "tiny").mkdir()
    for i, stem in enumerate(MASK_TABLES):
        pd.DataFrame({"layer": ["a", "b"], "value": [i, i + 1]}).to_csv(
            tmp_path / "tiny" / f"{stem}.csv", index=False
        )
    overlap, kept = committed_mask_tables("tiny", tmp_path)
    assert list(overlap["value"]) == [0, 1] and list(kept["value"]) == [1, 2]
