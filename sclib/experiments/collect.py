"""The one seam between runs on disk and tables: the only code that reads finished runs.

With :mod:`sclib.experiments.collect_masks` (the tables of masks), everything downstream
(``sclib.stats``, ``sclib.plots``, the notebooks) takes the tables and masks these modules
return and never opens the cache itself. ``cached_runs`` and ``cached_choices`` read run
rows; ``load_cell`` reads a run's model and mask (running the cell first when it is not
cached yet, as ``sclib.experiments.runner.run_cell`` would; ``ReadOnlyCache`` never runs
it); ``committed_runs`` and ``notebook_rows`` read the committed results tables
(notebooks 02-04).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, MaskSetting, Profile, cells, run_config, spare_seeds
from sclib.experiments.runner import run_cell, run_grid
from sclib.experiments.search import trained_mask
from sclib.experiments.seeds import included_seeds, spare_needed
from sclib.models import ARCHITECTURES
from sclib.paths import RESULTS_DIR
from sclib.stats.vocabulary import as_bool
from sclib.train import BaseTrainConfig


def cached_runs(cache: Cache | None = None) -> pd.DataFrame:
    """Every run row stored in the cache (any profile), one row per run; empty if none."""
    cache = cache if cache is not None else Cache()
    if cache.root is None or not (cache.root / "runs").exists():
        return pd.DataFrame()
    rows = []
    for entry in sorted((cache.root / "runs").iterdir()):
        try:
            rows.append(torch.load(entry / "payload.pt", weights_only=False))
        except Exception:  # a partial entry: run_cell will recompute it
            continue
    return pd.DataFrame(rows)


def load_cell(cell: Cell, profile: str | Profile = "quick", cache: Cache | None = None):
    """The model with its selected, trained mask for a cell: ``(model, masks, row)``.

    Runs the cell first if it is not cached yet (reads everything from the cache if it is).
    The model is in eval mode with the binary mask on; use ``sclib.ablation.ablated`` or
    ``masks.disabled()`` on it.
    """
    profile = get_profile(ARCHITECTURES.get(cell.architecture, "vision"), profile)
    cache = cache if cache is not None else Cache()
    row = run_cell(cell, profile, cache, progress=False)
    base, _ = base_model(cell, profile, cache, progress=False)
    setting = MaskSetting(
        row["mask_l0_init"], row["mask_lr"], row["masked_stages"], row["l0_lambda"]
    )
    model, masks, _ = trained_mask(cell, profile, setting, base, cache, progress=False)
    return model.eval(), masks, row


class ReadOnlyCache(Cache):
    """A cache that reads and never computes: a missing entry raises ``LookupError``."""

    def get_or_compute(self, kind: str, config: Any, compute: Any) -> Any:
        payload = self.load(kind, config)
        if payload is None:
            raise LookupError(
                f"a {kind[:-1].replace('_', ' ')} of this run is not in the cache "
                f"{self.root}; `make figures` (or sclib.experiments.runner.run_cell) computes it"
            )
        return payload

    def save(self, kind: str, config: Any, payload: Any) -> None:
        return None


# the dataclasses a run's cache key holds
_TYPES = {"Cell": Cell, "Profile": Profile, "BaseTrainConfig": BaseTrainConfig}


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a type hint names (``X``, ``X | None``), or None."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    return next((t for t in typing.get_args(hint) if _dataclass_in(t)), None)


def _unplain(obj: Any, cls: type | None = None) -> Any:
    """Undo ``sclib.experiments.cache``'s plain form: lists back to tuples, dataclasses back from
    ``__type__`` (nested ones, which the plain form leaves untyped, from type hints)."""
    if isinstance(obj, list):
        return tuple(_unplain(v) for v in obj)
    if not isinstance(obj, dict):
        return obj
    cls = _TYPES.get(obj.get("__type__"), cls)
    if cls is None:
        return {k: _unplain(v) for k, v in obj.items() if k != "__type__"}
    hints = typing.get_type_hints(cls)
    return cls(
        **{k: _unplain(v, _dataclass_in(hints.get(k))) for k, v in obj.items() if k != "__type__"}
    )


def _is_current(profile: Profile) -> bool:
    """Whether ``profile`` is the profile of that name as ``sclib.experiments.profiles`` defines it now."""
    try:
        return get_profile(profile.domain, profile.name) == profile
    except ValueError:
        return False


def cached_choices(cache: Cache | None = None) -> pd.DataFrame:
    """The run rows stored in the cache (as ``cached_runs``), each with
    ``profile_config``, the exact ``Profile`` it was run with (read from the cache entry,
    so a run of an older profile definition still loads), ``keyed_now`` (whether its key is
    the one the code gives its cell and profile now: ``profiles.run_config``), ``current``
    (that, and its profile is the profile's definition now) and ``run_id``. Entries written
    by an older sclib whose configuration no longer reads back to the same key are left out."""
    cache = cache if cache is not None else Cache()
    folder = cache.root / "runs" if cache.root is not None else None
    rows = []
    for entry in sorted(folder.iterdir()) if folder is not None and folder.exists() else []:
        try:
            config = json.loads((entry / "meta.json").read_text())["config"]
            key = {"cell": _unplain(config["cell"]), "profile": _unplain(config["profile"])}
            if "base" in config:  # a pretrained regime's own base training (run_config)
                key["base"] = _unplain(config["base"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a partial entry, or one of a format this version cannot read
        if cache.key("runs", key) != entry.name:  # also skips runs of other code
            continue
        row = cache.load("runs", key)
        if row is not None:
            profile = key["profile"]
            # a run keyed otherwise than the code keys its cell now (a pretrained regime's
            # older base training, ``profiles.run_config``) is not what a run would compute
            keyed_now = key == run_config(key["cell"], profile)
            extra = {
                "profile_config": profile,
                "current": _is_current(profile) and keyed_now,
                "keyed_now": keyed_now,
            }
            rows.append({**row, **extra, "run_id": entry.name})
    return pd.DataFrame(rows)


# ------------------------------------------------------------ committed results tables

BOOL_COLUMNS = ("excluded", "mask_passed")  # read back from CSV as booleans


def read_table(path) -> pd.DataFrame | None:
    """A committed results CSV with its booleans restored (``BOOL_COLUMNS``) and each cell's
    included base seeds marked (``sclib.experiments.seeds``); None if absent."""
    path = Path(path)
    if not path.exists():
        return None
    table = pd.read_csv(path)
    for column in BOOL_COLUMNS:
        if column in table:
            table[column] = as_bool(table[column])
    return included_seeds(table)


def committed_runs(profile: Profile, cell_list: Iterable[Cell], results_dir=None):
    """The rows of ``cell_list`` in the committed table ``data/results/<profile>/runs.csv``.

    Written by ``python -m sclib.grid collect``. Returns None when the table does not exist
    or lacks any of the cells (then the caller runs them), else one row per cell in the
    order of ``cell_list``, then the rows of the same cells at the profile's spare seeds
    that the table holds (``sclib.experiments.seeds``: included where they stand in for a
    failed base model, else marked excluded).
    """
    table = committed_table(profile.name, [profile.domain], results_dir)
    if table is None:
        return None
    fields = [f.name for f in dataclasses.fields(Cell)]
    index = {tuple(r): i for i, r in enumerate(table[fields].itertuples(index=False))}
    cell_list = list(cell_list)
    wanted = [tuple(getattr(c, f) for f in fields) for c in cell_list]
    if not wanted or any(w not in index for w in wanted):
        return None
    spares = [
        tuple(getattr(dataclasses.replace(c, base_seed=seed), f) for f in fields)
        for seed in spare_seeds(profile)
        for c in _one_per_seedless_cell(cell_list)
    ]
    found = [index[w] for w in wanted] + [index[s] for s in spares if s in index]
    return table.iloc[found].reset_index(drop=True)


def _one_per_seedless_cell(cell_list: Iterable[Cell]) -> list[Cell]:
    """One cell per (everything but the base seed), in order."""
    seen, out = set(), []
    for cell in cell_list:
        key = dataclasses.replace(cell, base_seed=0)
        if key not in seen:
            seen.add(key)
            out.append(cell)
    return out


def with_spares(rows: pd.DataFrame, cell_list: Iterable[Cell], profile: Profile, cache=None):
    """``rows`` (the runs of ``cell_list``) with the runs of each spare seed they call for
    (``sclib.experiments.seeds.spare_needed``: a base model failed), run or read from the
    cache, and each cell's included base seeds marked."""
    for seed in spare_seeds(profile):
        candidates = [
            dataclasses.replace(c, base_seed=seed) for c in _one_per_seedless_cell(cell_list)
        ]
        needed = [c for c in candidates if spare_needed(rows, c, profile)]
        if needed:
            rows = pd.concat([rows, run_grid(needed, profile, cache)], ignore_index=True)
    return included_seeds(rows)


def committed_table(
    name: str, domains: Iterable[str] | None = None, results_dir=None
) -> pd.DataFrame | None:
    """Every row of the committed table ``data/results/<name>/runs.csv`` (of ``domains``,
    default all), booleans restored; None when it does not exist or holds none of them.
    Unlike ``committed_runs`` it accepts a table still being filled (a profile run in
    chunks): notebooks draw what is there and say how many runs that is."""
    table = read_table((RESULTS_DIR if results_dir is None else results_dir) / name / "runs.csv")
    if table is None:
        return None
    if domains is not None and "domain" in table:
        table = table[table["domain"].isin(list(domains))]
    return None if table.empty else table.reset_index(drop=True)


def notebook_rows(
    profiles: Mapping[str, Profile],
    grids: Mapping[str, Iterable[Cell]] | None = None,
    cache: Cache | None = None,
    results_dir=None,
) -> dict[str, pd.DataFrame]:
    """One table per domain for notebooks 02-04: the committed results where they exist.

    For each domain, the rows of ``data/results/<profile>/runs.csv`` when it holds every
    cell of the grid (default ``cells(profile)``), else the cells run (or read from the
    cache) by ``run_grid``, spare seeds where a base model failed (``with_spares``). A line
    says which.
    """
    tables = {}
    for domain, profile in profiles.items():
        cell_list = list(grids[domain] if grids is not None else cells(profile))
        rows = committed_runs(profile, cell_list, results_dir)
        if rows is not None:
            print(f"[{domain}/{profile.name}] {len(rows)} runs from data/results/{profile.name}")
            tables[domain] = rows
        else:
            rows = run_grid(cell_list, profile, cache)
            tables[domain] = with_spares(rows, cell_list, profile, cache)
    return tables


def drawn_from_table(
    profiles: Mapping[str, Profile],
    grids: Mapping[str, Iterable[Cell]] | None = None,
    results_dir=None,
) -> bool:
    """Whether ``notebook_rows`` draws every domain from its committed table: then the runs'
    models and masks need not be on this machine (notebook 04 reads its mask tables from
    beside the table, ``collect_masks.committed_mask_tables``, and skips what needs models)."""
    return all(
        committed_runs(p, grids[d] if grids is not None else cells(p), results_dir) is not None
        for d, p in profiles.items()
    )
