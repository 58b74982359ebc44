"""The paper's two scores on accuracies floored at chance (arXiv 2301.10884, its metrics).

``subnetwork_score`` and ``ablation_score`` both compare accuracy on the "+/-" test set of
the subroutine a mask was trained for (*target*) with the set of the other subroutine
(*other*), each floored at chance first (:func:`floor_at_chance`), so that differences
below chance count for nothing. They accept floats, numpy arrays and pandas Series (a
column per accuracy gives a column of scores). ``sclib.experiments.runner`` puts both in
every run row; notebooks/00_quickstart.ipynb and the explorer (notebooks/05_explorer.ipynb)
call them directly. The GLM tests on these scores are in :mod:`sclib.stats.glm`.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from sclib.stats.vocabulary import CHANCE

Acc = TypeVar("Acc")


def floor_at_chance(acc: Acc, chance: float = CHANCE) -> Acc:
    """``max(acc, chance)``: a float for a number, elementwise for arrays, lists and Series.

    >>> floor_at_chance(0.1), floor_at_chance([0.1, 0.9]).tolist()
    (0.25, [0.25, 0.9])
    """
    if isinstance(acc, (int, float, np.integer, np.floating)):
        return max(float(acc), chance)
    if isinstance(acc, (list, tuple)):
        acc = np.asarray(acc, dtype=float)
    return np.maximum(acc, chance)


def subnetwork_score(acc_target: Acc, acc_other: Acc, chance: float = CHANCE) -> Acc:
    """How much better the subnetwork does on its own subroutine than on the other.

    ``max(acc_target, chance) - max(acc_other, chance)``, with the accuracies of the
    subnetwork alone (the mask applied) on "+/-target" and "+/-other". Expected > 0;
    at most 1 - chance (0.75).

    >>> subnetwork_score(1.0, 0.1)
    0.75
    >>> subnetwork_score(np.array([0.9, 0.5]), np.array([0.3, 0.5])).round(2).tolist()
    [0.6, 0.0]
    """
    return floor_at_chance(acc_target, chance) - floor_at_chance(acc_other, chance)


def ablation_score(acc_target: Acc, acc_other: Acc, chance: float = CHANCE) -> Acc:
    """How much more ablating the subnetwork hurts its own subroutine than the other.

    ``max(acc_target, chance) - max(acc_other, chance)``, with the accuracies of the full
    model with the subnetwork ablated on "+/-target" and "+/-other". Expected < 0 if the
    subnetwork is a separable module; near 0 if ablation hurts both or neither.

    >>> ablation_score(0.2, 1.0)
    -0.75
    >>> import pandas as pd
    >>> ablation_score(pd.Series([0.3, 1.0]), pd.Series([0.9, 1.0])).round(2).tolist()
    [-0.6, 0.0]
    """
    return floor_at_chance(acc_target, chance) - floor_at_chance(acc_other, chance)
