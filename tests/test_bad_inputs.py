"""Bad input over the public API: each call raises ValueError within a second, naming the
bad value (issue #18: a typo must never hang a notebook)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from contextlib import contextmanager

import pandas as pd
import pytest
import torch
from torch import nn

from sclib.ablation import ablated
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell
from sclib.experiments.runner import check_cell
from sclib.lab.explorer import Subnetworks
from sclib.lab.toy import ToyConfig
from sclib.masks import add_masks
from sclib.tasks import get_task
from sclib.tasks.vision import generate_problems

SECONDS = 1.0


@contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in the main thread if the body runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _ablate(mode: str, seed: int = 0) -> None:
    with ablated(add_masks(_model()), mode, seed=seed):
        pass


def _no_runs() -> pd.DataFrame:
    return pd.DataFrame()


def _toy():
    return get_task("toy", dim=8)


CASES: list[tuple[str, Callable[[], object], str]] = [
    # get_task and the tasks' constructors
    ("unknown task", lambda: get_task("inside"), "'inside'"),
    ("task name not a string", lambda: get_task(3), "3"),
    ("unknown keyword", lambda: get_task("toy", image_size=32), "'image_size'"),
    ("vision keyword to language", lambda: get_task("sv_agreement", image_size=32), "image_size"),
    ("typo in keyword", lambda: get_task("inside_contact", image_sise=32), "'image_sise'"),
    (
        "issue #18 hang",
        lambda: get_task("inside_contact", image_size=16).dataset("compositional", "train", 8)[0],
        "16",
    ),
    ("too small inside_number", lambda: get_task("inside_number", image_size=24), "24"),
    ("too small number_contact", lambda: get_task("number_contact", image_size=12), "12"),
    ("zero image size", lambda: get_task("number_contact", image_size=0), "0"),
    ("negative image size", lambda: get_task("inside_contact", image_size=-48), "-48"),
    ("float image size", lambda: get_task("inside_contact", image_size=32.5), "32.5"),
    ("string image size", lambda: get_task("inside_contact", image_size="48"), "'48'"),
    ("negative vision seed", lambda: get_task("inside_contact", seed=-1), "-1"),
    ("float vision seed", lambda: get_task("inside_number", seed=0.5), "0.5"),
    ("negative language seed", lambda: get_task("anaphora", seed=-3), "-3"),
    ("bool language seed", lambda: get_task("sv_agreement", seed=True), "True"),
    ("unknown number", lambda: get_task("sv_agreement", number="dual"), "'dual'"),
    ("unknown template", lambda: get_task("anaphora", templates=["prep_phrase"]), "prep_phrase"),
    ("no templates", lambda: get_task("anaphora", templates=[]), "[]"),
    ("odd toy dim", lambda: get_task("toy", dim=5), "5"),
    ("negative toy noise", lambda: get_task("toy", noise=-1.0), "-1.0"),
    ("nan toy noise", lambda: get_task("toy", noise=float("nan")), "nan"),
    ("negative toy seed", lambda: get_task("toy", seed=-2), "-2"),
    # Task.dataset and generate_problems
    ("unknown kind", lambda: _toy().dataset("inside", "train", 4), "'inside'"),
    ("kind not a string", lambda: _toy().dataset(None, "train", 4), "None"),
    ("unknown subroutine kind", lambda: _toy().dataset("pm:middle", "train", 4), "pm:middle"),
    ("unknown split", lambda: _toy().dataset("compositional", "training", 4), "'training'"),
    ("zero problems", lambda: _toy().dataset("compositional", "train", 0), "0"),
    ("negative problems", lambda: _toy().dataset("compositional", "train", -5), "-5"),
    ("float problems", lambda: _toy().dataset("compositional", "train", 2.5), "2.5"),
    ("bool problems", lambda: _toy().dataset("compositional", "train", True), "True"),
    (
        "language unknown split",
        lambda: get_task("anaphora").dataset("compositional", "dev", 2),
        "'dev'",
    ),
    (
        "vision unknown kind",
        lambda: get_task("inside_number", cache_dir=None).dataset("pm:contact", "train", 2),
        "pm:contact",
    ),
    (
        "generate too small",
        lambda: generate_problems("inside_contact", "compositional", "train", 2, image_size=8),
        "8",
    ),
    (
        "generate unknown split",
        lambda: generate_problems("number_contact", "compositional", "tset", 2, image_size=32),
        "'tset'",
    ),
    (
        "generate negative seed",
        lambda: generate_problems(
            "number_contact", "compositional", "test", 2, seed=-7, image_size=32
        ),
        "-7",
    ),
    # masks
    ("include matches nothing", lambda: add_masks(_model(), include="encoder.*"), "encoder.*"),
    ("empty include", lambda: add_masks(_model(), include=[]), "[]"),
    ("include of ints", lambda: add_masks(_model(), include=[0, 2]), "[0, 2]"),
    (
        "predicate selects nothing",
        lambda: add_masks(_model(), include=lambda n, m: False),
        "predicate",
    ),
    ("nan init", lambda: add_masks(_model(), init=float("nan")), "nan"),
    ("string init", lambda: add_masks(_model(), init="0.05"), "'0.05'"),
    ("unknown method", lambda: add_masks(_model(), method="sigmoid"), "'sigmoid'"),
    ("not a model", lambda: add_masks("resnet"), "str"),
    ("unknown ablation", lambda: _ablate("mean"), "'mean'"),
    ("negative ablation seed", lambda: _ablate("random_reinit", seed=-1), "-1"),
    ("float ablation seed", lambda: _ablate("randomly_sampled", seed=1.5), "1.5"),
    # cells and profiles
    ("negative base seed", lambda: Cell("inside_contact", "resnet", "inside", base_seed=-1), "-1"),
    ("float mask seed", lambda: Cell("inside_contact", "resnet", "inside", mask_seed=0.5), "0.5"),
    ("empty task", lambda: Cell("", "resnet", "inside"), "''"),
    (
        "language task, vision architecture",
        lambda: check_cell(Cell("sv_agreement", "resnet", "subject"), get_profile("vision")),
        "sv_agreement",
    ),
    (
        "vision task, language architecture",
        lambda: check_cell(
            Cell("inside_contact", "minilm", "inside", variant="singular"), get_profile("language")
        ),
        "minilm",
    ),
    (
        "unknown architecture",
        lambda: check_cell(Cell("inside_contact", "gpt2", "inside"), get_profile("vision")),
        "'gpt2'",
    ),
    (
        "unknown cell task",
        lambda: check_cell(Cell("inside", "resnet", "inside"), get_profile("vision")),
        "'inside'",
    ),
    (
        "unknown subroutine",
        lambda: check_cell(Cell("inside_contact", "resnet", "colour"), get_profile("vision")),
        "'colour'",
    ),
    ("unknown profile", lambda: get_profile("vision", "huge"), "huge"),
    ("unknown domain", lambda: get_profile("audio"), "audio"),
    # the classroom lab: the toy and the explorer (its computations; the widget subclasses it)
    ("negative toy problems", lambda: ToyConfig(n_train=-1), "-1"),
    ("no toy hidden layer", lambda: ToyConfig(hidden=()), "()"),
    ("toy lr zero", lambda: ToyConfig(lr=0.0), "0.0"),
    ("explorer cache as a path", lambda: Subnetworks(cache="/nonexistent"), "/nonexistent"),
    ("explorer zero test problems", lambda: Subnetworks(runs=_no_runs(), n_test=0), "0"),
    ("explorer unknown profile", lambda: Subnetworks(runs=_no_runs(), profile="qick"), "'qick'"),
]


@pytest.mark.parametrize("call, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_fast_and_names_the_value(call, needle):
    with deadline(SECONDS), pytest.raises(ValueError) as error:
        call()
    assert needle in str(error.value), f"{needle!r} not named in: {error.value}"


def test_check_cell_names_the_architectures_that_would_do():
    with pytest.raises(ValueError) as error:
        check_cell(Cell("sv_agreement", "resnet", "subject"), get_profile("vision"))
    message = str(error.value)
    assert "resnet" in message and "bert_small" in message and "minilm" in message


def test_too_small_image_size_names_the_smallest_that_works():
    from sclib.tasks.vision import smallest_image_size

    for task in ("inside_contact", "inside_number", "number_contact"):
        smallest = smallest_image_size(task)
        with pytest.raises(ValueError, match=f"smallest it can draw is {smallest} px"):
            get_task(task, image_size=smallest - 1)
        get_task(task, image_size=smallest, cache_dir=None).dataset("compositional", "val", 2)
