"""sclib.stats.scores: the two scores, floored at chance, on floats, arrays and Series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sclib.stats.scores import ablation_score, subnetwork_score


@pytest.mark.parametrize("score", [subnetwork_score, ablation_score])
def test_floats(score):
    assert score(1.0, 0.25) == 0.75 and isinstance(score(1.0, 0.25), float)
    assert score(0.1, 0.2) == 0.0  # both below chance: nothing
    assert score(0.3, 1.0) == pytest.approx(-0.7)
    assert score(0.1, 0.9) == pytest.approx(-0.65)  # 0.1 counts as chance
    assert score(1, 0) == 0.75  # ints too
    assert score(0.6, 0.4, chance=0.5) == pytest.approx(0.1)


@pytest.mark.parametrize("score", [subnetwork_score, ablation_score])
def test_arrays_series_and_lists(score):
    target, other = np.array([1.0, 0.1, 0.5]), np.array([0.2, 0.9, 0.5])
    expected = np.array([0.75, -0.65, 0.0])
    np.testing.assert_allclose(score(target, other), expected)
    np.testing.assert_allclose(score(list(target), list(other)), expected)
    table = pd.DataFrame({"target": target, "other": other}, index=["a", "b", "c"])
    result = score(table["target"], table["other"])
    assert isinstance(result, pd.Series) and list(result.index) == ["a", "b", "c"]
    np.testing.assert_allclose(result.to_numpy(), expected)
    assert score(np.float32(0.5), 0.25) == pytest.approx(0.25)
