"""The explorer's computations and widgets on a tiny toy run (no browser; seconds)."""

from __future__ import annotations

import ipywidgets
import pandas as pd
import pytest
import torch

from sclib.ablation import ABLATION_MODES
from sclib.experiments.cache import Cache
from sclib.experiments.collect import cached_choices
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell
from sclib.lab.drawing import png
from sclib.lab.exercises import check_prediction, lambda_sweep
from sclib.lab.explorer import MODES
from sclib.lab.subjects import Subject, run_label
from sclib.lab.toy import ToyConfig, train_toy
from sclib.lab.widget import Explorer
from sclib.tasks import get_task

TINY = ToyConfig(n_train=400, epochs=6, n_mask=400, mask_epochs=4)
FAKE_RUNS = pd.DataFrame(
    [
        {"task": t, "architecture": a, "regime": "scratch", "subroutine": s, "variant": "none",
         "base_seed": 0, "mask_seed": 0, "profile": "quick", "domain": "vision"}
        for t, a, s in [
            ("inside_contact", "resnet", "inside"),
            ("inside_contact", "resnet", "contact"),
            ("inside_contact", "wide_resnet", "contact"),
            ("number_contact", "resnet", "number"),
        ]
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def toy_run():
    return train_toy(TINY)


@pytest.fixture
def explorer(toy_run):
    return Explorer.from_toy(toy_run, n_test=100)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_accuracies_of_every_mode_are_fractions_of_both_pm_sets(explorer):
    explorer.select(subroutine="left")
    for mode in ("subnetwork", *MODES):
        accs = explorer.accuracies(mode)
        assert list(accs) == ["pm:left", "pm:right"]  # target first
        assert all(0.0 <= a <= 1.0 for a in accs.values())
    table = explorer.table()
    assert len(table) == 2 + len(ABLATION_MODES) and "score" in table


def test_accuracies_are_computed_once_per_mode(explorer):
    first = explorer.predictions("zero")
    assert explorer.predictions("zero") is first


def test_ablation_restores_the_model(explorer):
    subject = explorer.select(subroutine="right")
    before, full = _weights(subject.model), explorer.accuracies("none")
    for mode in ABLATION_MODES:
        explorer.accuracies(mode)
    assert all(m.override is None for m in subject.masks.values())
    after = _weights(subject.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    subject.predictions.clear()  # recompute the full model after the ablations
    assert explorer.accuracies("none") == full


def test_zero_ablation_changes_the_model_output(explorer):
    explorer.select(subroutine="left")
    with explorer.applied("none"):
        full = explorer.subject.model(explorer.subject.tests["pm:left"].items[:8])
    with explorer.applied("zero"):
        ablated = explorer.subject.model(explorer.subject.tests["pm:left"].items[:8])
    assert not torch.allclose(full, ablated)


def test_layer_stats_and_mask_picture(explorer, toy_run):
    explorer.select(subroutine="left")
    stats = explorer.layer_stats()
    assert stats["short"].tolist() == ["fc1", "fc2", "out"]
    assert stats["share"].sum() == pytest.approx(1.0) or stats["kept"].sum() == 0
    assert stats["kept"].sum() == sum(int(k.sum()) for k in toy_run.masks["left"].kept().values())
    assert explorer.layer_mask("fc1").shape == (32, 16)  # hidden x dim
    assert explorer.layer_mask("embedder.out.weight").shape == (8, 32)
    with pytest.raises(ValueError, match="choose one of: fc1, fc2, out"):
        explorer.layer_mask("fc9")


def test_examples_carry_the_models_choice(explorer):
    examples = explorer.examples("zero", n=3)
    assert len(examples) == 6 and set(examples["set"]) == {"pm:left", "pm:right"}
    assert (examples["correct"] == (examples["choice"] == examples["odd"])).all()
    assert "item 0" in explorer.examples_html("zero")


def test_choosing_from_a_cached_runs_frame():
    explorer = Explorer(runs=FAKE_RUNS, cache=Cache(None), toy=TINY)
    assert explorer.options("task") == ["inside_contact", "number_contact", "toy"]
    assert explorer.options("architecture", task="inside_contact") == ["resnet", "wide_resnet"]
    assert explorer.options("subroutine", task="inside_contact", architecture="resnet") == [
        "contact",
        "inside",
    ]
    index = explorer.choose(task="inside_contact", architecture="wide_resnet")
    assert explorer.choices.loc[index, "subroutine"] == "contact"
    with pytest.raises(ValueError, match="choose one of: resnet, wide_resnet"):
        explorer.choose(task="inside_contact", architecture="vit")
    assert run_label(explorer.choices.loc[index]) == "quick profile, base seed 0, mask seed 0"


def test_a_run_missing_from_the_cache_is_reported_and_never_trained(tmp_path):
    cache = Cache(tmp_path)
    explorer = Explorer(runs=FAKE_RUNS, cache=cache, toy=TINY)
    with pytest.raises(LookupError, match="make figures"):
        explorer.select(task="number_contact")
    subject = explorer.select()  # the default: no cached run loads, so the toy
    assert subject.domain == "toy" and "trained here" in subject.label
    assert len(explorer.messages) == len(FAKE_RUNS)
    assert not any(tmp_path.iterdir())  # nothing computed into the cache


def test_cached_choices_read_each_runs_exact_profile(tmp_path):
    cache = Cache(tmp_path)
    for (domain, name), profile in PROFILES.items():
        cell = Cell(profile.tasks[0], profile.architectures[0], "x", variant=profile.variants[0])
        row = {"task": cell.task, "architecture": cell.architecture, "subroutine": "x",
               "regime": "scratch", "variant": cell.variant, "base_seed": 0, "mask_seed": 0,
               "profile": name, "domain": domain}  # fmt: skip
        cache.save("runs", {"cell": cell, "profile": profile}, row)
    found = cached_choices(cache)
    assert len(found) == len(PROFILES) and found["current"].all()
    assert {p.name + p.domain for p in found["profile_config"]} == {
        p.name + p.domain for p in PROFILES.values()
    }
    assert all(p == PROFILES[(p.domain, p.name)] for p in found["profile_config"])


def test_widget_updates_when_the_mode_changes(explorer):
    box = explorer.widget()
    c = explorer.controls
    assert isinstance(box, ipywidgets.VBox)
    assert isinstance(c["mode"], ipywidgets.Dropdown) and c["mode"].options == MODES
    assert "toy model" in c["source"].value and c["layers_image"].value[:4] == b"\x89PNG"
    before = c["accuracy"].value
    c["mode"].value = "zero"
    assert c["accuracy"].value != before and "[zero]" in c["accuracy"].value
    assert "ablation score (zero)" in c["accuracy"].value
    c["mode"].value = "randomly_sampled"
    assert "[randomly_sampled]" in c["accuracy"].value and "[zero]" not in c["accuracy"].value


def test_widget_pickers_switch_subroutine_and_layer(explorer):
    explorer.widget()
    c = explorer.controls
    image = c["mask_image"].value
    c["layer"].value = "embedder.fc2.weight"
    assert c["mask_image"].value != image
    c["subroutine"].value = "right"
    assert explorer.subject.subroutine == "right" and "pm:right (target)" in c["accuracy"].value
    assert c["run"].value == explorer.index


def test_widget_reports_a_run_it_cannot_show(toy_run):
    explorer = Explorer(runs=FAKE_RUNS, cache=Cache(None), toy=toy_run, n_test=50)
    explorer.widget()  # no fake run loads: the toy is shown
    c = explorer.controls
    assert c["task"].value == "toy"
    c["task"].value = "inside_contact"
    assert "cannot show this run" in c["status"].value
    assert c["task"].value == "toy" and explorer.subject.domain == "toy"


def test_lambda_sweep_gives_a_row_per_lambda(toy_run):
    sweep = lambda_sweep(toy_run, "left", [1e-4, 1e-1], n_test=50)
    assert sweep["l0_lambda"].tolist() == [1e-4, 1e-1]
    assert {"kept_fraction", "subnetwork_score", "ablation_score"} <= set(sweep)
    assert sweep["kept_fraction"].iloc[1] <= sweep["kept_fraction"].iloc[0]


def test_check_prediction_names_the_valid_levels():
    check = check_prediction({"pm:a": "chance"}, {"pm:a": 0.6, "pm:b": 0.95})
    assert check["measured level"].tolist() == ["between", "high"]
    assert check["verdict"].tolist() == ["not quite", "no prediction yet"]
    with pytest.raises(ValueError, match="use one of: chance, between, high"):
        check_prediction({"pm:a": "low"}, {"pm:a": 0.5})


@pytest.mark.parametrize("task_name", ["inside_contact", "sv_agreement"])
def test_examples_of_vision_and_language_tasks_render(task_name):
    kwargs = {"image_size": 48, "cache_dir": None} if task_name != "sv_agreement" else {}
    task = get_task(task_name, **kwargs)
    target, other = task.subroutines
    tests = {f"pm:{s}": task.dataset(f"pm:{s}", "test", 2) for s in (target, other)}
    guesses = {name: torch.zeros(2, dtype=torch.long) for name in tests}  # always item 0
    domain = "language" if task_name == "sv_agreement" else "vision"
    subject = Subject("fake", domain, task, target, other, None, None, tests)
    subject.predictions["none"] = guesses
    explorer = Explorer(runs=pd.DataFrame(), cache=Cache(None))
    explorer._subjects[0], explorer.index = subject, 0
    examples = explorer.examples("none")
    assert (examples["choice"] == 0).all() and len(examples) == 4
    if domain == "vision":
        assert png(explorer.examples_figure("none"))[:4] == b"\x89PNG"
    else:
        text = explorer.examples_html("none")
        assert all(sentence in text for sentence in tests[f"pm:{target}"].items[0])


def test_complement_ablation_that_cannot_run_is_nan_with_a_note(toy_run):
    """A layer keeping over half its weights has no size-matched complement (issue #12)."""
    explorer = Explorer.from_toy(toy_run, n_test=50)
    explorer.select(task="toy", subroutine=explorer.options("subroutine", task="toy")[0])
    for mask in explorer.subject.masks.values():
        mask.logits.data.fill_(1.0)  # keep every weight
    accuracies = explorer.accuracies("complement_sampled")
    assert all(a != a for a in accuracies.values())  # NaN
    assert "complement" in explorer.subject.notes["complement_sampled"]
    assert explorer.accuracies("zero")  # the other views still run
