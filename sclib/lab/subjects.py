"""The explorer's subjects: which subnetworks can be chosen, and loading one of them.

A *subject* is one subnetwork with what showing it needs: the model, its mask, the task
and the two "+/-" test sets. ``choice_table`` lists the choices (the cached runs, then the
toy's two subroutines); ``cached_subject`` reads a cached run without ever training one,
``toy_subject`` takes one subroutine of a trained toy run. Used by
``sclib.lab.explorer.Subnetworks``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from sclib.experiments.base_models import task_for
from sclib.experiments.cache import Cache
from sclib.experiments.collect import ReadOnlyCache, load_cell
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, Profile
from sclib.lab.toy import ToyRun
from sclib.masks import MaskSet
from sclib.tasks.base import ProblemSet, Task

CHOICE_COLUMNS = ("task", "architecture", "regime", "subroutine")
RUN_COLUMNS = ("variant", "base_seed", "mask_seed", "profile")
TOY_ARCHITECTURE = "toy_mlp"


@dataclass
class Subject:
    """One subnetwork on screen: the model, its mask, the task and the two "+/-" sets.

    ``tests`` maps ``"pm:<target>"`` then ``"pm:<other>"`` to their problems;
    ``predictions`` keeps the model's guesses per view, ``notes`` a warning per view.
    """

    label: str
    domain: str
    task: Task
    subroutine: str
    other: str
    model: nn.Module
    masks: MaskSet
    tests: dict[str, ProblemSet]
    seed: int = 0
    row: dict[str, Any] | None = None
    predictions: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def short_layer(layer: str) -> str:
    """A masked layer's short name.

    >>> short_layer("embedder.fc1.weight")
    'fc1'
    """
    return layer.removeprefix("embedder.").removesuffix(".weight")


def run_label(choice: pd.Series | dict) -> str:
    """A short label for the run axes: profile, seeds and (language) number variant.

    >>> run_label({"profile": "quick", "base_seed": 0, "mask_seed": 1, "variant": "none"})
    'quick profile, base seed 0, mask seed 1'
    """
    text = f"{choice['profile']} profile, base seed {int(choice['base_seed'])}, mask seed "
    text += str(int(choice["mask_seed"]))
    text += f", {choice['variant']}" if choice["variant"] not in ("none", None) else ""
    return text + ("" if bool(choice.get("current", True)) else ", older profile definition")


def choice_table(runs: pd.DataFrame, shipped: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per selectable subnetwork: the cached ``runs`` first (current profiles,
    usable base models and vision first: the default is the first row), then the runs
    ``shipped`` with sclib (``sclib.lab.shipped.shipped_choices``) that the cache does not
    hold, then the toy's.

    >>> choice_table(pd.DataFrame())[["task", "subroutine", "source"]].values.tolist()
    [['toy', 'left', 'toy'], ['toy', 'right', 'toy']]
    """
    cols = [*CHOICE_COLUMNS, *RUN_COLUMNS, "domain", "source", "current", "profile_config", "path"]
    tables = []
    if len(runs):
        table = runs.reindex(columns=[*cols, "run_id"]).assign(source="cache")
        table["domain"] = table["domain"].fillna("vision")
        table["current"] = runs.get("current", pd.Series(True, index=runs.index)).astype(bool)
        excluded = runs.get("excluded", pd.Series(False, index=runs.index)).astype(bool)
        rank = 4 * ~table["current"] + 2 * excluded + (table["domain"] != "vision")
        table = table.assign(_rank=rank).sort_values(["_rank", *CHOICE_COLUMNS, *RUN_COLUMNS])
        tables.append(table.drop(columns="_rank"))
    if shipped is not None and len(shipped):
        keys = [*CHOICE_COLUMNS, *RUN_COLUMNS]
        ship = shipped.reindex(columns=cols).assign(source="shipped", current=True)
        if tables:  # a run the cache holds (at the current profile) is shown from the cache
            cached = tables[0][tables[0]["current"]]
            held = set(cached[keys].astype(str).itertuples(index=False))
            ship = ship[[k not in held for k in ship[keys].astype(str).itertuples(index=False)]]
        excluded = shipped.get("excluded", pd.Series(False, index=shipped.index))
        rank = 2 * excluded.reindex(ship.index).astype(bool) + (ship["domain"] != "vision")
        ship = ship.assign(_rank=rank).sort_values(["_rank", *CHOICE_COLUMNS, *RUN_COLUMNS])
        tables.append(ship.drop(columns="_rank"))
    toy_rows = pd.DataFrame(
        [
            {"task": "toy", "architecture": TOY_ARCHITECTURE, "regime": "scratch",
             "subroutine": sub, "variant": "none", "base_seed": 0, "mask_seed": 0,
             "profile": "toy", "domain": "toy", "source": "toy", "current": True}
            for sub in ("left", "right")
        ],
        columns=cols,
    )  # fmt: skip
    return pd.concat([*tables, toy_rows], ignore_index=True)


def toy_subject(run: ToyRun, subroutine: str, n_test: int, label: str) -> Subject:
    """The ``subroutine`` subnetwork of a trained toy run, with ``n_test`` problems per
    "+/-" set."""
    other = run.task.other(subroutine)
    return Subject(
        label=label,
        domain="toy",
        task=run.task,
        subroutine=subroutine,
        other=other,
        model=run.masks[subroutine].model,
        masks=run.masks[subroutine],
        tests={f"pm:{s}": run.task.dataset(f"pm:{s}", "test", n_test) for s in (subroutine, other)},
        seed=run.config.seed,
    )


def cached_subject(choice: pd.Series, cache: Cache, n_test: int) -> Subject:
    """The cached run of ``choice`` (a row of ``choice_table``), read and never trained:
    raises ``LookupError`` when its model is not in ``cache``."""
    cell = Cell(
        **{
            f.name: int(choice[f.name]) if f.type == "int" else str(choice[f.name])
            for f in dataclasses.fields(Cell)
        }
    )
    profile = choice.get("profile_config")
    if not isinstance(profile, Profile):
        profile = get_profile(str(choice["domain"]), str(choice["profile"]))
    model, masks, row = load_cell(cell, profile, ReadOnlyCache(cache.root))
    task = task_for(cell, profile)
    other = task.other(cell.subroutine)
    tests = {
        f"pm:{s}": task.dataset(f"pm:{s}", "test", profile.n_test).subset(n_test)
        for s in (cell.subroutine, other)
    }
    where = cache.root / "runs" if cache.root is not None else "the cache"
    label = (
        f"cached run from {where} ({run_label(choice)}; computed on "
        f"{row.get('device', '?')}, git {row.get('git_rev', '?')})"
    )
    return Subject(
        label, profile.domain, task, cell.subroutine, other, model, masks, tests,
        seed=cell.mask_seed, row=row,
    )  # fmt: skip
