"""The helpers of ``notebooks/06_exercises.ipynb``: check a prediction, sweep lambda.

A student predicts an accuracy as a level (``"high"``, ``"between"`` or ``"chance"``);
``check_prediction`` sets the prediction beside the measured accuracy and its level.
``lambda_sweep`` trains new masks on a toy run's base model at several sparsity
pressures and measures each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from sclib.lab.explorer import Subnetworks
from sclib.lab.toy import ToyRun, train_toy_mask

LEVELS = {"chance": 0.4, "between": 0.85, "high": 1.0}  # upper bounds of each level


def accuracy_level(acc: float) -> str:
    """``"chance"`` (below 0.4), ``"between"`` or ``"high"`` (above 0.85).

    >>> accuracy_level(0.3), accuracy_level(0.6), accuracy_level(0.97)
    ('chance', 'between', 'high')
    """
    return next(level for level, upper in LEVELS.items() if acc < upper or level == "high")


def check_prediction(prediction: dict[str, str | None], measured: dict[str, float]) -> pd.DataFrame:
    """A student's predictions (``"high"``, ``"between"``, ``"chance"`` or None) beside
    the measured accuracies, one row per "+/-" set (``06_exercises``).

    >>> check = check_prediction({"pm:a": "high", "pm:b": None}, {"pm:a": 0.9, "pm:b": 0.3})
    >>> check["verdict"].tolist()
    ['right', 'no prediction yet']
    """
    unknown = {p for p in prediction.values() if p is not None} - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown prediction {sorted(unknown)}; use one of: {', '.join(LEVELS)}")
    rows = {}
    for name, acc in measured.items():
        guess, level = prediction.get(name), accuracy_level(acc)
        verdict = (
            "no prediction yet" if guess is None else ("right" if guess == level else "not quite")
        )
        rows[name] = {"predicted": guess, "measured": round(acc, 3), "measured level": level,
                      "verdict": verdict}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index")


def lambda_sweep(
    run: ToyRun, subroutine: str, lambdas: Sequence[float], n_test: int = 500
) -> pd.DataFrame:
    """A new mask for ``subroutine`` per sparsity pressure ``lambdas`` on the run's base
    model: kept fraction, accuracies of the subnetwork and of the zero-ablated model on
    both "+/-" sets, and both scores; one row per lambda."""
    rows = []
    for lam in lambdas:
        masks = train_toy_mask(run, subroutine, lam)
        subnetworks = Subnetworks.from_toy(replace(run, masks={subroutine: masks}), n_test=n_test)
        subnetworks.select(subroutine=subroutine)
        rows.append(
            {
                "l0_lambda": lam,
                "kept_fraction": masks.kept_fraction(),
                **{f"subnetwork {k}": v for k, v in subnetworks.accuracies("subnetwork").items()},
                **{f"zero-ablated {k}": v for k, v in subnetworks.accuracies("zero").items()},
                **subnetworks.scores("zero"),
            }
        )
    return pd.DataFrame(rows)
