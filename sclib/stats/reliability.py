"""The paper's GLM tests cell by cell, and the reliability of structural compositionality.

``cell_tests`` and ``cell_interactions`` run a test of :mod:`sclib.stats.glm` in every cell
(``CELL_COLUMNS`` of :mod:`sclib.stats.vocabulary`): on the paper's own rows (``source``
"paper") the paper's test (``paper_test``), ours elsewhere. ``fraction_significant`` counts
the cells whose ablation score is significantly below 0: the paper's second message
(pretrained models show structural compositionality more reliably). Used by
notebooks/03_pretrained_vs_random.ipynb (through ``sclib.plots.pretraining`` too).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from sclib.stats.cluster import check_choice
from sclib.stats.glm import (
    GLMTest,
    ablation_test,
    interaction_test,
    paper_test,
    present_columns,
)
from sclib.stats.vocabulary import CELL_COLUMNS

TESTS = ("auto", "ours", "paper")
# the paper's unit of analysis: one results folder (``model_folder``: its untrained controls
# were run once per trained model) and subroutine; language pools singular and plural
PAPER_CELL = ("task", "architecture", "model_folder", "subroutine")


def _per_cell(rows: pd.DataFrame, keys: list[str], function, **kwargs) -> pd.DataFrame:
    out = []
    for values, group in rows.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = function(group, **kwargs)
        out.append({**dict(zip(keys, values, strict=True)), **asdict(result)})
    return pd.DataFrame(out)


def _is_paper(rows: pd.DataFrame) -> bool:
    return "source" in rows.columns and bool((rows["source"] == "paper").all())


def _which_test(rows: pd.DataFrame, test: str) -> str:
    check_choice(test, "test", TESTS)
    if test != "auto":
        return test
    return "paper" if _is_paper(rows) else "ours"


def _cell_test(rows: pd.DataFrame, test: str, **kwargs: Any) -> GLMTest:
    """``paper_test`` on the paper's rows (``source`` "paper") when ``test`` says so, else ours."""
    if _which_test(rows, test) == "paper":
        if kwargs.get("prefix", "zero_abl_acc") != "zero_abl_acc":
            raise ValueError(
                f"prefix {kwargs['prefix']!r}: the paper's test is of its (zero) ablation score "
                "only; use test='ours' for other accuracies"
            )
        return paper_test(rows, **{k: v for k, v in kwargs.items() if k == "cluster"})
    return ablation_test(rows, **kwargs)


def cell_tests(
    rows: pd.DataFrame,
    by: Sequence[str] = ("regime",),
    cell: Sequence[str] = CELL_COLUMNS,
    test: str = "auto",
    **kwargs: Any,
) -> pd.DataFrame:
    """A test of the ablation score in every cell (``by`` x ``cell`` columns present).

    ``test``: ``"ours"`` (``ablation_test``; ``kwargs`` go to it: ``prefix``,
    ``alternative``, ``reference``, ...), ``"paper"`` (``paper_test``: always two-sided z,
    of the zero-ablation score; only ``cluster`` applies), or ``"auto"``: the
    paper's test for a cell whose rows are all the paper's (``source`` "paper"), ours
    elsewhere; the column ``reference`` says which. Untestable cells (one base model, no
    variation) have NaN p-values, without warnings.
    """
    keys = present_columns(rows, [*by, *cell])
    return _per_cell(rows, keys, _cell_test, test=test, **kwargs)


def cell_interactions(
    rows: pd.DataFrame,
    factor: str = "regime",
    levels: tuple[str, str] = ("scratch", "pretrained"),
    cell: Sequence[str] = CELL_COLUMNS,
    test: str = "auto",
    **kwargs: Any,
) -> pd.DataFrame:
    """The Ablation x ``factor`` interaction in every cell present at both levels: one row each.

    ``test`` as in ``cell_tests``: ``"auto"`` gives a cell whose rows are all the paper's
    the paper's own test (``paper_test`` with ``levels``: two-sided z) and ours
    (``interaction_test``: ``kwargs`` go to it, e.g. ``reference``) elsewhere.
    """
    keys = present_columns(rows, cell)
    both = rows[rows[factor].isin(levels)].groupby(keys, dropna=False)[factor].transform("nunique")
    rows = rows.loc[both.index[both == 2]]
    return _per_cell(
        rows, keys, _cell_interaction, test=test, factor=factor, levels=levels, **kwargs
    )


def _cell_interaction(
    rows: pd.DataFrame, test: str, factor: str, levels: tuple[str, str], **kwargs: Any
) -> GLMTest:
    """``paper_test`` with ``levels`` on the paper's rows when ``test`` says so, else ours."""
    if _which_test(rows, test) == "paper":
        return paper_test(rows, levels=levels, factor=factor)
    return interaction_test(rows, factor=factor, levels=levels, **kwargs)


def fraction_significant(
    rows: pd.DataFrame,
    by: Sequence[str] = ("regime",),
    cell: Sequence[str] | None = None,
    alpha: float = 0.05,
    test: str = "auto",
    **kwargs: Any,
) -> pd.DataFrame:
    """Per group of ``by``: the fraction of cells whose ablation score is significantly < 0.

    The reliability of structural compositionality (the paper's second message: pretrained
    models show it more reliably). "Significantly below 0": the two-sided p-value is below
    ``alpha`` *and* the mean ablation score is negative. ``test`` as in :func:`cell_tests`:
    on the paper's rows (``"auto"``) the paper's own test, on its own cells (``cell`` None:
    ``PAPER_CELL``, singular and plural pooled as its language analysis did); on ours
    ``ablation_test`` (two-sided, t with G - 1 df; ``kwargs`` go to it) on ``CELL_COLUMNS``.
    Untestable cells count as not significant. Used by notebooks/03_pretrained_vs_random.ipynb.

    Returns:
        Columns ``by`` + ``test`` (which test: its ``reference``), ``n_cells``,
        ``n_significant``, ``n_untestable``, ``fraction``.
    """
    which = _which_test(rows, test)
    if cell is None:
        cell = PAPER_CELL if which == "paper" else CELL_COLUMNS
    tests = cell_tests(rows, by, cell, test=which, **kwargs)
    tests["significant"] = (tests["p_value"] < alpha) & (tests["coef"] < 0)
    tests["untestable"] = tests["p_value"].isna()
    keys = present_columns(rows, by)
    summary = tests.groupby(keys, sort=True).agg(
        test=("reference", lambda r: ", ".join(sorted(set(r)))),
        n_cells=("significant", "size"),
        n_significant=("significant", "sum"),
        n_untestable=("untestable", "sum"),
    )
    summary["fraction"] = summary["n_significant"] / summary["n_cells"]
    return summary.reset_index()
