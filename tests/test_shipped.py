"""Runs shipped with sclib (sclib/lab/runs): the explorer shows them with no cache, and a
shipped run shows exactly what its cached run showed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell, tiny_profile
from sclib.experiments.runner import run_cell
from sclib.lab import shipped as shipped_module
from sclib.lab import subjects as subjects_module
from sclib.lab.explorer import VIEWS, Subnetworks
from sclib.lab.shipped import SHIPPED_CELLS, SHIPPED_DIR, FrozenMasks, ship, shipped_choices, slug
from sclib.lab.widget import Explorer
from sclib.stats.scores import ablation_score, subnetwork_score

TINY = replace(
    tiny_profile(PROFILES[("vision", "quick")]),
    n_train=16, n_subroutine=16, n_val=8, n_test=12, lambdas=(1e-6,),
)  # fmt: skip
CELL = Cell("inside_contact", "resnet", "inside", "scratch")


def _committed() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(SHIPPED_DIR.glob("*.json"))]


def test_every_shipped_cell_is_committed_and_its_record_reproduces_the_run_row():
    records = _committed()
    assert {slug(d, p, c) for d, p, c in SHIPPED_CELLS} == {
        slug(r["domain"], r["profile"], Cell(**r["cell"])) for r in records
    }
    assert {r["domain"] for r in records} == {"vision", "language"}
    for r in records:
        target, other = r["sets"]
        acc = r["accuracies"]
        assert subnetwork_score(acc["subnetwork"][target], acc["subnetwork"][other]) == (
            pytest.approx(r["row"]["subnetwork_score"], abs=1e-9)
        )
        assert ablation_score(acc["zero"][target], acc["zero"][other]) == (
            pytest.approx(r["row"]["ablation_score"], abs=1e-9)
        )


def test_the_explorer_with_an_empty_cache_shows_a_shipped_vision_run(tmp_path):
    explorer = Subnetworks(cache=Cache(tmp_path), n_test=10_000)
    subject = explorer.select()
    assert explorer.choices.loc[explorer.index, "source"] == "shipped"
    assert subject.domain == "vision" and "shipped" in subject.label
    record = json.loads(SHIPPED_DIR.joinpath(
        slug("vision", "quick", Cell(subject.task.name, "resnet", subject.subroutine, "scratch"))
        + ".json").read_text())  # fmt: skip
    for view in VIEWS:  # the stored choices, scored against the regenerated test sets
        assert explorer.accuracies(view) == pytest.approx(record["accuracies"][view])
    assert explorer.layer_stats()["kept"].sum() == pytest.approx(
        record["row"]["kept_fraction"] * sum(layer["size"] for layer in record["layers"]), abs=1
    )
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_the_explorer_switches_to_a_shipped_language_run(tmp_path):
    explorer = Explorer(cache=Cache(tmp_path), n_test=50)
    explorer.widget()
    explorer.controls["task"].value = "sv_agreement"
    assert explorer.subject.domain == "language"
    assert "[zero]" not in explorer.controls["accuracy"].value
    explorer.controls["mode"].value = "zero"
    assert "ablation score (zero)" in explorer.controls["accuracy"].value
    assert "showing" in explorer.controls["status"].value
    assert len(explorer.examples("zero")) == 2 * explorer.n_examples


def test_shipped_runs_can_be_turned_off_and_a_bad_folder_is_named(tmp_path):
    assert "shipped" not in set(Subnetworks(cache=Cache(tmp_path), shipped=False).choices["source"])
    assert "shipped" not in set(Subnetworks(runs=pd.DataFrame()).choices["source"])
    with pytest.raises(ValueError, match="does not exist"):
        Subnetworks(shipped=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="shipped must be"):
        Subnetworks(shipped=3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny cached run (seconds), shared by the tests below."""
    cache = Cache(tmp_path_factory.mktemp("cache"))
    return cache, run_cell(CELL, TINY, cache, progress=False)


@pytest.fixture
def tiny_resolved(monkeypatch):
    """get_profile answers the tiny profile, so a tiny run can be shipped and read back."""
    monkeypatch.setattr(shipped_module, "get_profile", lambda domain, name: TINY)
    monkeypatch.setattr(subjects_module, "get_profile", lambda domain, name: TINY)


def test_a_shipped_run_shows_what_its_cached_run_shows(tmp_path, tiny_run, tiny_resolved):
    cache, row = tiny_run
    ship("vision", "tiny", CELL, cache, tmp_path / "ship")
    choice = {**CELL.__dict__, "domain": "vision", "profile": "tiny"}
    live = Subnetworks(runs=pd.DataFrame([choice]), cache=cache, n_test=TINY.n_test)
    frozen = Subnetworks(runs=pd.DataFrame(), shipped=tmp_path / "ship", n_test=TINY.n_test)
    frozen.select(source="shipped")
    assert frozen.subject.model is None and isinstance(frozen.subject.masks, FrozenMasks)
    live.select(0)
    for view in VIEWS:  # NaN where an ablation could not run, with the same note
        assert pd.Series(frozen.accuracies(view)).equals(pd.Series(live.accuracies(view)))
    assert frozen.subject.notes == live.subject.notes
    pd.testing.assert_frame_equal(frozen.layer_stats(), live.layer_stats())
    assert frozen.subject.masks.kept_fraction() == pytest.approx(row["kept_fraction"])
    for name, kept in live.subject.masks.kept().items():
        assert torch.equal(frozen.subject.masks.kept()[name], kept)
    assert frozen.table().equals(live.table())


def test_a_shipped_run_on_other_test_sets_is_refused(tmp_path, tiny_run, tiny_resolved):
    cache, _ = tiny_run
    (path,) = [p for p in ship("vision", "tiny", CELL, cache, tmp_path) if p.suffix == ".json"]
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "answers": "0" * 16}))
    explorer = Subnetworks(runs=pd.DataFrame(), shipped=tmp_path)
    with pytest.raises(LookupError, match="re-ship"):
        explorer.select(source="shipped")
    assert len(shipped_choices(tmp_path)) == 1


def test_frozen_masks_check_their_layers():
    kept = {"a": torch.tensor([True, False, True])}
    masks = FrozenMasks(kept, {"a": 3})
    assert masks.kept_fraction() == pytest.approx(2 / 3) and masks.size() == 3
    assert masks.stats().to_dict("records") == [
        {"layer": "a", "size": 3, "kept": 2, "fraction": pytest.approx(2 / 3)}
    ]
    with pytest.raises(ValueError, match="differ"):
        FrozenMasks(kept, {"b": 3})
    assert np.packbits(kept["a"].numpy()).nbytes == 1  # one bit a weight, as shipped
