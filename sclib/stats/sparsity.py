"""Does weight sparsity amplify decomposition? The table and the rule (issue #16).

Used by ``notebooks/07_sparsity.ipynb``, ``sclib.plots.sparsity`` and
``sclib.stats.sparsity_verdict`` (the verdict, read off the table by the rule below, in
words). ``rows`` are ``sclib.experiments.sparsity.run_sparsity`` rows: one per run, each
cell at several base weight densities (``weight_density``, the target;
``base_weight_density``, measured).

**The rule** (fixed before any result was seen, never tuned on one). A *trained* cell
(regime scratch or pretrained; task x architecture x subroutine x variant) is *modular* at
a density when its mean ablation score there is below ``-MARGIN`` and, with at least
``MIN_SEEDS`` included base seeds, a one-sample t-test of its ablation scores against 0
(one-sided, mean < 0) has p < ``ALPHA``. Then, comparing each trained cell at density 1
(dense) with its sparsest density that has included runs:

- ``"amplify"``: at least one cell is modular when dense, every such cell's sparsest mean
  lies more than ``MARGIN`` below its dense mean, and no cell that is not modular when
  dense is modular at its sparsest density;
- ``"enforce"``: at least one cell is not modular when dense, and every cell, those
  included, is modular at its sparsest density;
- ``"neither"``: anything else;
- ``"not decidable at this scale"``: some trained (cell, density) has fewer than
  ``MIN_SEEDS`` included runs, or fewer than 2 densities (density 1 among them) have
  included runs.

``MARGIN`` = 0.1: one ablation score is a difference of two accuracies on "+/-" test sets
of 300-500 problems, whose binomial standard error is about 0.035 near accuracy 0.75, so
0.1 is about three standard errors of one run: noise of the test sets alone does not
cross it. It is also the margin notebook 02's verdicts use. The t-test is what guards
against seed-to-seed spread, which at one seed can be as large as the effect (README,
"Reproducibility").

The untrained sparse control (regime untrained, random weights at the same density) is
reported beside the verdict: whether its mean ablation score is near 0 (``|mean| <
MARGIN``) at every density, and whether it is modular (the rule above) at any density
below 1; if it is, the text says that sparsity itself, not learning, produces the effect.
Excluded runs (``excluded``) are left out of every mean and counted; the untrained
control is never excluded.

>>> rows = pd.DataFrame({"domain": "vision", "task": "inside_contact",
...     "architecture": "resnet", "subroutine": "inside", "variant": "none",
...     "regime": "scratch", "base_seed": [0, 1], "weight_density": [1.0, 0.2],
...     "ablation_score": [-0.3, -0.5], "excluded": False})
>>> sparsity_table(rows)[["weight_density", "n_seeds"]].to_dict("list")
{'weight_density': [1.0, 0.2], 'n_seeds': [1, 1]}
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from sclib.stats.vocabulary import as_bool

MARGIN = 0.1  # see the module docstring: about three binomial standard errors of one run
ALPHA = 0.05
MIN_SEEDS = 3
DENSE = 1.0
NO_SUBNETWORK = "no subnetwork passed"  # sclib.experiments.runner.EXCLUSION_REASONS[1]
READINGS = ("amplify", "enforce", "neither", "not decidable at this scale")
KEYS = ["domain", "task", "architecture", "subroutine", "variant", "regime", "weight_density"]
CELL_KEYS = KEYS[:-1]
MEASURES = (
    "ablation_score",
    "subnetwork_score",
    "sampled_ablation_score",  # the size-matched random ablation
    "kept_fraction",  # of the masked region's nonzero weights
    "base_comp_test_acc",
    "base_weight_density",
)


def _p_below_zero(mean: float, sd: float, n: int) -> float:
    """One-sided p of a one-sample t-test that the mean is below 0 (NaN with n < 2)."""
    if n < 2 or math.isnan(mean) or math.isnan(sd):
        return float("nan")
    if sd == 0:
        return 0.0 if mean < 0 else 1.0
    return float(stats.t.cdf(mean / (sd / math.sqrt(n)), df=n - 1))


def _seed_scores(runs: pd.DataFrame) -> pd.Series:
    """One ablation score per base seed (mask seeds averaged within it): the t-test's units."""
    if "ablation_score" not in runs:
        return pd.Series(dtype=float)
    if "base_seed" not in runs:
        return runs["ablation_score"].dropna()
    return runs.groupby("base_seed")["ablation_score"].mean().dropna()


# a sparse run whose base model's measured density is off its target by more than this
# (relative) is left out: its weights are not the level it is filed under (e.g. a
# best-validation checkpoint restored from before the annealing reached the target)
DENSITY_TOLERANCE = 0.1


def off_density(rows: pd.DataFrame, tolerance: float = DENSITY_TOLERANCE) -> pd.Series:
    """Whether each run's measured ``base_weight_density`` is off its target
    ``weight_density`` by more than ``tolerance`` (relative); False where not measured.

    >>> off_density(pd.DataFrame({"weight_density": [0.2, 0.02], "base_weight_density": [0.19999, 0.265]})).tolist()
    [False, True]
    """  # noqa: E501
    if "base_weight_density" not in rows:
        return pd.Series(False, index=rows.index)
    measured = pd.to_numeric(rows["base_weight_density"], errors="coerce")
    target = pd.to_numeric(rows["weight_density"], errors="coerce")
    return ((measured / target - 1).abs() > tolerance).fillna(False)


def sparsity_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per cell (domain, task, architecture, subroutine, variant, regime) and weight density:
    the mean of each of ``MEASURES`` over the included runs, their count ``n`` and their
    base seeds ``n_seeds``, the runs left out ``n_excluded`` (excluded as usual, or
    ``n_off_density`` of them because their base model's measured density is off the
    target: ``off_density``; ``n_no_subnetwork`` of them because no mask reached the
    selection threshold); over the base seeds (mask
    seeds averaged within each), the ablation scores' standard deviation and the one-sided
    p of a t-test of mean < 0 (``ablation_score_sd``, ``ablation_p_below_0``); and
    ``base_comp_test_acc_all``, the base models' mean accuracy over every run, excluded
    ones too (the exclusion rests on it). Densest first within a cell."""
    rows = rows.copy()
    for column in ("domain", "task", "architecture", "subroutine", "variant", "regime"):
        if column not in rows:
            if column in ("task", "architecture", "subroutine", "regime"):
                raise ValueError(f"rows lack the column {column!r}: not run rows")
            rows[column] = "none" if column == "variant" else "?"
    if "weight_density" not in rows:
        raise ValueError("rows lack 'weight_density': they are not run_sparsity's rows")
    rows["variant"] = rows["variant"].fillna("none")
    excluded = as_bool(rows["excluded"]) if "excluded" in rows else pd.Series(False, rows.index)
    off = off_density(rows)
    excluded = excluded | off
    no_subnetwork = excluded & (
        rows["exclusion_reason"].eq(NO_SUBNETWORK)
        if "exclusion_reason" in rows
        else pd.Series(False, rows.index)
    )
    out = []
    for values, group in rows.groupby(KEYS, sort=False, dropna=False):
        kept = group[~excluded.loc[group.index]]
        record = dict(zip(KEYS, values, strict=True))
        scores = _seed_scores(kept)
        record.update(n=len(kept), n_seeds=len(scores), n_excluded=len(group) - len(kept))
        record["n_off_density"] = int(off.loc[group.index].sum())
        record["n_no_subnetwork"] = int(no_subnetwork.loc[group.index].sum())
        for measure in MEASURES:
            record[measure] = kept[measure].mean() if measure in kept and len(kept) else np.nan
        record["ablation_score_sd"] = scores.std() if len(scores) > 1 else np.nan
        record["ablation_p_below_0"] = _p_below_zero(
            scores.mean() if len(scores) else np.nan, record["ablation_score_sd"], len(scores)
        )
        acc = group["base_comp_test_acc"] if "base_comp_test_acc" in group else pd.Series()
        record["base_comp_test_acc_all"] = acc.mean() if len(acc) else np.nan
        out.append(record)
    table = pd.DataFrame(out)
    if table.empty:
        return table
    order = table.groupby(CELL_KEYS, sort=False, dropna=False).ngroup()
    return (
        table.assign(_order=order)
        .sort_values(["_order", "weight_density"], ascending=[True, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def as_table(rows_or_table: pd.DataFrame) -> pd.DataFrame:
    """``sparsity_table(rows)`` for run rows; a table (it has ``n``, no ``base_seed``) as is."""
    is_table = "n" in rows_or_table and "base_seed" not in rows_or_table
    return rows_or_table if is_table else sparsity_table(rows_or_table)


def is_modular(mean: float, p: float, n: int, margin: float = MARGIN, alpha: float = ALPHA):
    """The rule: mean ablation score below ``-margin`` and, with ``n >= MIN_SEEDS``, the
    one-sided t-test significant (with fewer runs the mean alone; the verdict is then
    "not decidable").

    >>> is_modular(-0.3, 0.01, 3), is_modular(-0.3, 0.2, 3), is_modular(-0.05, 0.0, 3)
    (True, False, False)
    """
    if math.isnan(mean) or not mean < -margin:
        return False
    return n < MIN_SEEDS or (not math.isnan(p) and p < alpha)
