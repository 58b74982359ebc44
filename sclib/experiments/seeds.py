"""Which base seeds a cell includes: the first that pass, spare seeds standing in for failures.

A profile's cell has ``len(profile.base_seeds)`` base seeds. A trained base model below the
accuracy criterion is excluded (``sclib.experiments.runner``); where the profile has spare
seeds (``sclib.experiments.profiles.SPARE_SEEDS``), the next one stands in, where the spares
left can still complete the cell (``spare_needed``). The rule,
fixed in advance and blind to every score: a trained cell's included base seeds are the
first ``len(profile.base_seeds)`` seeds, in seed order, whose base model passes; the runs
of any later passing seed are excluded as spares not needed. An untrained control takes
its trained twin's included seeds (the same task, architecture, subroutine, variant and
density from scratch), so the two stay paired; without a twin, its first seeds.

>>> rows = pd.DataFrame({"profile": "standard", "domain": "vision", "task": "inside_contact",
...     "architecture": "resnet", "subroutine": "inside", "variant": "none",
...     "regime": ["scratch"] * 4 + ["untrained"] * 4, "base_seed": [0, 1, 2, 3] * 2,
...     "excluded": [False, False, True, False] + [False] * 4,
...     "exclusion_reason": ["", "", BASE_FAILED, ""] + [""] * 4})
>>> included_seeds(rows).groupby("regime")["excluded"].apply(list).to_dict()
{'scratch': [False, False, True, False], 'untrained': [False, False, True, False]}
"""

from __future__ import annotations

import pandas as pd

from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import spare_seeds
from sclib.experiments.runner import EXCLUSION_REASONS
from sclib.stats.vocabulary import as_bool

BASE_FAILED = EXCLUSION_REASONS[0]
SPARE = "spare base seed not needed"
TWIN_LEFT_OUT = "its trained twin's base seed is not included"
# the columns naming a cell across its base and mask seeds (those a table has)
GROUP = (
    "source",
    "profile",
    "domain",
    "task",
    "architecture",
    "subroutine",
    "variant",
    "pretraining",
    "weight_density",
)
DEFAULT_SEEDS = 3  # for a profile name sclib does not know


def seeds_per_cell(domain: str, profile: str) -> int:
    """How many base seeds a cell of profile ``profile`` includes (its ``base_seeds``)."""
    try:
        return len(get_profile(domain, profile).base_seeds)
    except (ValueError, KeyError):
        return DEFAULT_SEEDS


def _first(seeds, n: int) -> list[int]:
    return sorted(set(seeds))[:n]


def included_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the runs of base seeds a cell does not include marked ``excluded``
    (reason ``SPARE`` or ``TWIN_LEFT_OUT``, the included seeds in ``exclusion_note``).

    Rows without ``base_seed``, ``regime`` or ``excluded`` come back unchanged, as do the
    paper's rows (``source`` "paper"). Applying it twice changes nothing.
    """
    needed = {"base_seed", "regime", "excluded", "domain"}
    if rows.empty or not needed <= set(rows.columns):
        return rows
    out = rows.copy()
    out["excluded"] = as_bool(out["excluded"])
    for column in ("exclusion_reason", "exclusion_note"):
        if column not in out:
            out[column] = ""
        out[column] = out[column].fillna("").astype(str)
    ours = out["source"].ne("paper") if "source" in out else pd.Series(True, out.index)
    keys = [c for c in GROUP if c in out and c != "source"]
    keyed = out[ours].copy()
    keyed[keys] = keyed[keys].fillna("")  # NaN keys would drop out of groupby
    trained_seeds: dict[tuple, list[int]] = {}
    groups = keyed.groupby([*keys, "regime"], sort=False)
    # the trained cells first, so each untrained control can take its twin's seeds
    for (*key, regime), here in sorted(groups, key=lambda g: g[0][-1] == "untrained"):
        key = tuple(key)
        profile = str(here["profile"].iloc[0]) if "profile" in here else ""
        n = seeds_per_cell(str(here["domain"].iloc[0]), profile)
        if regime != "untrained":
            passing = here.loc[here["exclusion_reason"] != BASE_FAILED, "base_seed"]
            keep = trained_seeds[(key, regime)] = _first(passing, n)
            reason = SPARE
        else:
            keep = trained_seeds.get((key, "scratch"), _first(here["base_seed"], n))
            reason = TWIN_LEFT_OUT
        drop = here.index[
            ~here["base_seed"].isin(keep) & here["exclusion_reason"].isin(["", reason])
        ]
        out.loc[drop, ["excluded", "exclusion_reason"]] = (True, reason)
        out.loc[drop, "exclusion_note"] = (
            f"included base seeds: {', '.join(map(str, keep)) or 'none'}"
        )
    return out


def spare_needed(rows: pd.DataFrame, cell, profile) -> bool:
    """Whether a spare seed's ``cell`` must run under ``profile``: every lower seed of its
    trained cell (for an untrained control, its scratch twin) has run, fewer of them pass
    than the profile has base seeds, and the spare seeds from this one on can still make
    up the difference (every base seed failed and two spares remain for three places: none
    runs; such a cell waits for a recipe it learns under). ``rows``: the run rows there are
    (e.g. the cache's).
    """
    twin = "scratch" if cell.regime == "untrained" else cell.regime
    if rows.empty or "base_seed" not in rows:
        return False
    density = rows["weight_density"].fillna(1.0) if "weight_density" in rows else 1.0
    same = (
        (rows["task"] == cell.task)
        & (rows["architecture"] == cell.architecture)
        & (rows["subroutine"] == cell.subroutine)
        & (rows["variant"] == cell.variant)
        & (rows["regime"] == twin)
        & (rows["profile"] == profile.name)
        & (density == profile.weight_density)
        & (rows["base_seed"] < cell.base_seed)
    )
    lower = rows[same]
    wanted = [s for s in (*profile.base_seeds, *spare_seeds(profile)) if s < cell.base_seed]
    if not set(wanted) <= set(lower["base_seed"]):
        return False  # a lower seed has not run yet: it comes first
    failed = lower["exclusion_reason"].fillna("").eq(BASE_FAILED)
    passing = set(lower.loc[~failed, "base_seed"])
    left = [s for s in spare_seeds(profile) if s >= cell.base_seed]
    short = len(profile.base_seeds) - len(passing)
    return 0 < short <= len(left)


def needed_jobs(spare_jobs: list, rows: pd.DataFrame) -> list:
    """The spare seeds' jobs (``sclib.experiments.jobs.Job``) that ``rows`` call for
    (``spare_needed``), with the pretraining jobs they need."""
    base = [
        j
        for j in spare_jobs
        if j.kind == "base" and any(spare_needed(rows, c, j.profile) for c in j.cells)
    ]
    needs = {n for j in base for n in j.needs}
    return [j for j in spare_jobs if j.kind != "base" and j.name in needs] + base


def spare_jobs(profile: str, cache, **filters) -> tuple[list, list]:
    """The spare seeds' jobs of grid profile ``profile`` (``plan_jobs`` with ``filters``), and
    those of them the cache's runs call for (``needed_jobs``); none for a profile without
    spare seeds (``sclib.experiments.profiles.SPARE_SEEDS``)."""
    from sclib.experiments.collect import cached_choices
    from sclib.experiments.jobs import plan_jobs
    from sclib.experiments.profiles import SPARE_SEEDS

    seeds = SPARE_SEEDS.get(profile, ())
    if not seeds:
        return [], []
    spares = plan_jobs(profile, base_seeds=seeds, **filters)
    rows = cached_choices(cache)  # the runs this code would make: no stale key decides
    if not rows.empty:
        rows = rows[rows["keyed_now"].astype(bool)].drop(columns=["profile_config"])
    return spares, needed_jobs(spares, rows)
