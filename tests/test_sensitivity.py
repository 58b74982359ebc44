"""Lambda sensitivity (issue #12 item 9): one cell per domain, every rung, drawn."""

from __future__ import annotations

from dataclasses import replace

import matplotlib
import pandas as pd
import pytest

from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell, lambda_ladder, tiny_profile
from sclib.experiments.runner import run_cell
from sclib.experiments.sensitivity import sensitivity_table
from sclib.plots.sensitivity import lambda_sensitivity_figure

matplotlib.use("Agg")

TINY = replace(
    tiny_profile(PROFILES[("language", "quick")]),
    n_train=16, n_subroutine=16, n_val=8, n_test=8, lambdas=lambda_ladder(1e-2, 0.1, 3),
)  # fmt: skip
CELL = Cell("sv_agreement", "minilm", "subject", "scratch", "singular")
CONTROL = replace(CELL, regime="untrained")


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pd.DataFrame:
    cache = Cache(tmp_path_factory.mktemp("cache"))
    rows = pd.DataFrame([run_cell(c, TINY, cache, progress=False) for c in (CONTROL, CELL)])
    return sensitivity_table({"language": TINY}, {"language": rows}, ["language"], cache)


def test_the_first_trained_run_at_every_rung(table):
    assert table["l0_lambda"].tolist() == [1e-2, 1e-3, 1e-4]
    assert set(table["regime"]) == {"scratch"}  # the untrained control comes first, skipped
    assert set(table["domain"]) == {"language"} and set(table["subroutine"]) == {"subject"}


def test_unknown_domain_fails_before_any_training():
    with pytest.raises(ValueError, match="'vision'"):
        sensitivity_table({"language": TINY}, {}, ["vision"])


def test_figure_has_a_panel_per_cell(table):
    two = pd.concat([table, table.assign(subroutine="verb")], ignore_index=True)
    fig = lambda_sensitivity_figure(two)
    panels = [ax for ax in fig.axes if ax.get_ylabel() == "ablation score"]
    assert len(panels) == 2 and "Lambda sensitivity" in fig._suptitle.get_text()
