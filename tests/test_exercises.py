"""The checks of 06_exercises: right answers pass, wrong ones fail saying why, unwritten
ones give a hint; the prediction checkers and the circular-selection demo."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sclib.lab import checks
from sclib.lab.exercises import (
    accuracy_level,
    check_choice,
    check_prediction,
    check_trend,
    circular_selection,
    untrained_control,
)


def not_written(*args):
    raise NotImplementedError


def masked_weight(weight, logits, beta, training):
    return weight * torch.sigmoid(beta * logits) if training else weight * (logits > 0)


def l0_term(logits, beta):
    return torch.sigmoid(beta * logits).sum()


def zero_ablate(weight, kept):
    return weight * ~kept


def random_ablation(kept, seed):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, k in kept.items():
        drop = torch.zeros(k.numel(), dtype=torch.bool)
        drop[torch.randperm(k.numel(), generator=gen)[: int(k.sum())]] = True
        out[name] = drop.view(k.shape)
    return out


SOLUTIONS = {
    checks.check_masked_weight: masked_weight,
    checks.check_l0_term: l0_term,
    checks.check_zero_ablation: zero_ablate,
    checks.check_random_ablation: random_ablation,
}


@pytest.mark.parametrize("check", list(SOLUTIONS), ids=lambda c: c.__name__)
def test_a_right_answer_passes_and_an_unwritten_one_gives_a_hint(check, capsys):
    assert check(SOLUTIONS[check]) is True
    assert "correct" in capsys.readouterr().out
    assert check(not_written) is False
    assert "not done yet" in capsys.readouterr().out


WRONG = [
    (checks.check_masked_weight, lambda w, s, b, t: w * (s > 0), "training mode gives the binary"),
    (checks.check_masked_weight, lambda w, s, b, t: w * torch.sigmoid(s if t else b * s), "ignores beta"),
    (checks.check_masked_weight, lambda w, s, b, t: w * torch.sigmoid(b * s) if t else w * (s >= 0), "exactly 0"),
    (checks.check_masked_weight, lambda w, s, b, t: w * torch.sigmoid(b * s), "eval mode gives soft"),
    (checks.check_l0_term, lambda s, b: torch.sigmoid(b * s), "one number"),
    (checks.check_l0_term, lambda s, b: (s > 0).sum().float(), "no gradient"),
    (checks.check_l0_term, lambda s, b: torch.sigmoid(s).sum(), "beta is missing"),
    (checks.check_zero_ablation, lambda w, k: w * k, "subnetwork alone"),
    (checks.check_zero_ablation, lambda w, k: w.masked_fill_(k, 0.0), "in place"),
    (checks.check_random_ablation, lambda k, s: {n: torch.rand(v.shape) < 0.5 for n, v in k.items()}, "same count per layer"),
    (checks.check_random_ablation, lambda k, s: dict(k), "subnetwork itself"),
    (checks.check_random_ablation, lambda k, s: random_ablation(k, 0), "use the seed"),
    (checks.check_random_ablation, lambda k, s: random_ablation(k, int(torch.randint(9, ())) ), "twice gave two sets"),
]  # fmt: skip


@pytest.mark.parametrize("check,answer,message", WRONG, ids=[w[2] for w in WRONG])
def test_a_wrong_answer_fails_saying_what_is_wrong(check, answer, message):
    with pytest.raises(AssertionError, match=message):
        check(answer)


def test_levels_keep_a_margin_from_the_measured_toy_accuracies():
    # seeds 0-4 of the toy: zero-ablated target 0.24-0.49, random ablation 0.95-0.99
    assert {accuracy_level(a) for a in (0.24, 0.30, 0.38, 0.49)} == {"chance"}
    assert {accuracy_level(a) for a in (0.95, 0.99, 1.0)} == {"high"}
    assert accuracy_level(0.7) == "between"


def test_check_prediction_and_check_trend_refuse_unknown_words():
    with pytest.raises(ValueError, match="chance, between, high"):
        check_prediction({"pm:left": "low"}, {"pm:left": 0.3})
    sweep = pd.DataFrame({"kept_fraction": [0.2, 0.1]})
    with pytest.raises(ValueError, match="up, down, same"):
        check_trend({"k": "higher"}, sweep, {"k": "kept_fraction"})
    with pytest.raises(ValueError, match="no column"):
        check_trend({"x": "up"}, sweep, {"k": "kept_fraction"})
    assert (
        check_trend({"k": None}, sweep, {"k": "kept_fraction"})["verdict"].item()
        == "no prediction yet"
    )


def test_check_choice(capsys):
    assert check_choice("why_a_control", "b") is True
    assert check_choice("why_a_control", "a") is False
    with pytest.raises(ValueError, match="choose one of: a, b, c"):
        check_choice("why_a_control", "d")
    with pytest.raises(ValueError, match="why_a_control"):
        check_choice("why", "a")


def test_selection_on_the_ablation_score_finds_an_effect_that_fresh_problems_do_not():
    table = circular_selection(n_repeats=200, seed=1)
    assert table.loc["by ablation score", "chosen on"] < -0.05
    assert abs(table.loc["by ablation score", "fresh problems"]) < 0.02
    assert abs(table.loc["by validation accuracy"]).max() < 0.02
    with pytest.raises(ValueError, match="accuracy"):
        circular_selection(accuracy=1.5)


def test_untrained_control_averages_per_source_domain_and_regime():
    table = pd.DataFrame(
        {"source": ["paper"] * 3, "domain": ["language"] * 3,
         "regime": ["untrained", "untrained", "scratch"], "ablation_score": [0.2, 0.4, -0.3],
         "sampled_ablation_score": [None] * 3, "subnetwork_score": [0.7, 0.7, 0.5]}
    )  # fmt: skip
    means = untrained_control(table)
    assert means.loc[("paper", "language", "untrained"), "ablation_score"] == pytest.approx(0.3)
    assert "sampled_ablation_score" not in means  # never measured: dropped
