"""The one seam between runs on disk and tables: the only code that reads finished runs.

Everything downstream (``sclib.stats``, ``sclib.plots``, the notebooks) takes the tables
and masks this module returns and never opens the cache itself. ``cached_runs`` and
``cached_choices`` read run rows; ``load_cell`` reads a run's model and mask (running the
cell first when it is not cached yet, as ``sclib.experiments.runner.run_cell`` would);
``overlap_table``, ``intersected_overlap_table`` and ``kept_table`` load masks and hand them
to ``sclib.stats.overlap``;
``mask_tables`` makes both for every domain of a notebook (notebook 04).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import typing
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import torch

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.profiles import Cell, MaskSetting, Profile, cells, get_profile
from sclib.experiments.runner import run_cell, run_grid
from sclib.experiments.search import trained_mask
from sclib.models import ARCHITECTURES
from sclib.paths import RESULTS_DIR
from sclib.stats.overlap import as_kept, intersected_overlap, kept_by_layer, mask_overlap
from sclib.stats.vocabulary import BASE_COLUMNS, as_bool


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


_TYPES = {"Cell": Cell, "Profile": Profile}  # the dataclasses a run's cache key holds


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
    so a run of an older profile definition still loads), ``current`` (whether that is the
    profile's definition now) and ``run_id``. Entries written by an older sclib whose
    configuration no longer reads back to the same key are left out."""
    cache = cache if cache is not None else Cache()
    folder = cache.root / "runs" if cache.root is not None else None
    rows = []
    for entry in sorted(folder.iterdir()) if folder is not None and folder.exists() else []:
        try:
            config = json.loads((entry / "meta.json").read_text())["config"]
            key = {"cell": _unplain(config["cell"]), "profile": _unplain(config["profile"])}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a partial entry, or one of a format this version cannot read
        if cache.key("runs", key) != entry.name:  # also skips runs of other code
            continue
        row = cache.load("runs", key)
        if row is not None:
            profile = key["profile"]
            extra = {"profile_config": profile, "current": _is_current(profile)}
            rows.append({**row, **extra, "run_id": entry.name})
    return pd.DataFrame(rows)


def _check_pair(cell_a: Cell, cell_b: Cell) -> None:
    differ = [f for f in BASE_COLUMNS if getattr(cell_a, f) != getattr(cell_b, f)]
    if differ:
        raise ValueError(
            f"cells name different base models (they differ in {differ}); overlap compares two "
            "masks in one base model: change only subroutine and/or mask_seed"
        )
    if cell_a == cell_b:
        raise ValueError("the two cells are the same; change subroutine and/or mask_seed")


def _loaded(cell: Cell, profile: str | Profile, cache: Cache | None) -> tuple[dict, dict]:
    _, masks, row = load_cell(cell, profile, cache)
    return as_kept(masks), row


def _shared_layers(loaded: list[tuple[dict, dict]]) -> list[str]:
    """The layers every loaded mask covers, in network order; a warning if some are left out."""
    shared = [n for n in loaded[0][0] if all(n in kept for kept, _ in loaded)]
    left_out = set().union(*(kept for kept, _ in loaded)) - set(shared)
    if left_out:
        regions = sorted({row["masked_stages"] for _, row in loaded})
        warnings.warn(
            f"masks cover different layers ({', '.join(regions)}); comparing the "
            f"{len(shared)} shared layers, leaving out {len(left_out)}",
            stacklevel=4,
        )
    return shared


def _pair_overlap(
    cells: tuple[Cell, Cell], loaded: tuple[tuple[dict, dict], ...], seed: int, n_random: int
) -> pd.DataFrame:
    (cell_a, cell_b), ((ka, row_a), (kb, row_b)) = cells, loaded
    shared = _shared_layers(list(loaded))
    table = mask_overlap(
        {n: ka[n] for n in shared}, {n: kb[n] for n in shared}, seed=seed, n_random=n_random
    )
    sub = cell_a.subroutine != cell_b.subroutine
    seeds = cell_a.mask_seed != cell_b.mask_seed
    ids = {
        "comparison": "both" if sub and seeds else "subroutines" if sub else "mask_seeds",
        "method": "single_mask",
        "n_seeds_a": 1,
        "n_seeds_b": 1,
        **{f: getattr(cell_a, f) for f in BASE_COLUMNS},
        "base_model_id": row_a["base_model_id"],
        "subroutine_a": cell_a.subroutine,
        "subroutine_b": cell_b.subroutine,
        "mask_seed_a": cell_a.mask_seed,
        "mask_seed_b": cell_b.mask_seed,
        "masked_stages_a": row_a["masked_stages"],
        "masked_stages_b": row_b["masked_stages"],
        "profile": row_a["profile"],
    }
    for i, (col, value) in enumerate(ids.items()):
        table.insert(i, col, value)
    return table


def overlap_for_base(
    cell_a: Cell,
    cell_b: Cell,
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    seed: int = 0,
    n_random: int = 20,
) -> pd.DataFrame:
    """:func:`mask_overlap` of two cells' selected masks in the same base model.

    The cells must name the same base model (task, architecture, regime, variant, base
    seed) and differ in subroutine (the paper's overlap) and/or mask seed (how much two
    masks for one subroutine share: the reference to read cross-subroutine overlap
    against). Masks are loaded with ``load_cell`` (a cell not cached yet
    is run). If the two selected masks cover different regions, only the layers both mask
    are compared, with a warning.

    Returns:
        The overlap table with the pair's identifiers in front: ``comparison``
        (``"subroutines"``, ``"mask_seeds"`` or ``"both"``), ``method`` (``"single_mask"``),
        ``n_seeds_a``/``_b`` (1), task, architecture, regime,
        variant, base_seed, base_model_id, subroutine_a/_b, mask_seed_a/_b,
        masked_stages_a/_b, profile.
    """
    _check_pair(cell_a, cell_b)
    loaded = (_loaded(cell_a, profile, cache), _loaded(cell_b, profile, cache))
    return _pair_overlap((cell_a, cell_b), loaded, seed, n_random)


def overlap_table(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    across: str = "subroutines",
    seed: int = 0,
    n_random: int = 20,
) -> pd.DataFrame:
    """:func:`overlap_for_base` for every pair in a list of cells, as one table.

    Args:
        cell_list: e.g. ``sclib.experiments.profiles.cells(profile)``.
        across: ``"subroutines"`` pairs the cells of one base model and mask seed that differ
            in subroutine; ``"mask_seeds"`` pairs those of one base model and subroutine that
            differ in mask seed.
    """
    if across not in ("subroutines", "mask_seeds"):
        raise ValueError(f"unknown across {across!r}; choose one of: subroutines, mask_seeds")
    fixed = ("mask_seed",) if across == "subroutines" else ("subroutine",)
    groups: dict[tuple, list[Cell]] = {}
    for cell in dict.fromkeys(cell_list):
        groups.setdefault(tuple(getattr(cell, f) for f in (*BASE_COLUMNS, *fixed)), []).append(cell)
    tables = []
    for group in groups.values():  # one group's masks in memory at a time
        if len(group) < 2:
            continue
        loaded = {c: _loaded(c, profile, cache) for c in group}
        for a, b in itertools.combinations(group, 2):
            tables.append(_pair_overlap((a, b), (loaded[a], loaded[b]), seed, n_random))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _intersected_pair(
    group: dict[str, list[Cell]],
    profile: str | Profile,
    cache: Cache | None,
    seed: int,
    n_random: int,
) -> pd.DataFrame:
    """The paper's overlap of one base model's two subroutines, seeds intersected first."""
    (sub_a, cells_a), (sub_b, cells_b) = group.items()
    loaded = [_loaded(c, profile, cache) for c in (*cells_a, *cells_b)]
    shared = _shared_layers(loaded)
    kept = [{n: k[n] for n in shared} for k, _ in loaded]
    table = intersected_overlap(kept[: len(cells_a)], kept[len(cells_a) :], seed, n_random)
    row_a, row_b = loaded[0][1], loaded[-1][1]
    ids = {
        "comparison": "subroutines",
        "method": "intersect_seeds",
        **{f: getattr(cells_a[0], f) for f in BASE_COLUMNS},
        "base_model_id": row_a["base_model_id"],
        "subroutine_a": sub_a,
        "subroutine_b": sub_b,
        "masked_stages_a": row_a["masked_stages"],
        "masked_stages_b": row_b["masked_stages"],
        "profile": row_a["profile"],
    }
    for i, (col, value) in enumerate(ids.items()):
        table.insert(i, col, value)
    return table


def intersected_overlap_table(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    seed: int = 0,
    n_random: int = 20,
) -> pd.DataFrame:
    """The paper's overlap: per base model, each subroutine's masks intersected over its
    mask seeds, then ``sclib.stats.overlap.intersected_overlap`` of the two intersections.

    Only base models with two subroutines of at least 2 mask seeds each enter (the paper
    had 3); an empty table otherwise (a profile with one mask seed). Layers not masked by
    every mask are left out, with a warning.

    Returns:
        Rows as :func:`overlap_table`'s with ``method`` ``"intersect_seeds"``,
        ``n_seeds_a``/``_b`` (the mask seeds intersected) and no ``mask_seed_a``/``_b``.
    """
    groups: dict[tuple, dict[str, list[Cell]]] = {}
    for cell in dict.fromkeys(cell_list):
        key = tuple(getattr(cell, f) for f in BASE_COLUMNS)
        groups.setdefault(key, {}).setdefault(cell.subroutine, []).append(cell)
    tables = [
        _intersected_pair(group, profile, cache, seed, n_random)
        for group in groups.values()  # one base model's masks in memory at a time
        if len(group) == 2 and all(len(c) >= 2 for c in group.values())
    ]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def kept_table(
    cell_list: Iterable[Cell], profile: str | Profile = "quick", cache: Cache | None = None
) -> pd.DataFrame:
    """``kept_by_layer`` of each cell's selected mask, with the run's identifiers in front.

    Masks are loaded with ``load_cell`` (a cell not cached yet is run).
    """
    ids = ("domain", "task", "variant", "architecture", "regime", "subroutine")
    ids += ("base_seed", "mask_seed", "base_model_id", "masked_stages", "profile")
    tables = []
    for cell in cell_list:
        _, masks, row = load_cell(cell, profile, cache)
        table = kept_by_layer(masks)
        for i, col in enumerate(ids):
            table.insert(i, col, row[col])
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def mask_tables(
    profiles: Mapping[str, Profile],
    included: Mapping[str, Iterable[Cell]],
    cache: Cache | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 04's mask tables over every domain: ``(overlap, kept)``.

    ``overlap`` is ``overlap_table(..., across="subroutines")`` (``method``
    ``"single_mask"``) and, where base models have 2 or more mask seeds per subroutine,
    ``intersected_overlap_table`` (``method`` ``"intersect_seeds"``, the paper's measure);
    ``kept`` is ``kept_table``; both of each domain's ``included`` cells (those of base
    models not excluded) under that domain's profile, concatenated in the order of
    ``profiles``. Masks of one base model that cover different layers are compared on the
    layers they share, quietly.
    """
    overlaps, kept = [], []
    for domain, profile in profiles.items():
        cell_list = list(included[domain])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="masks cover different layers")
            overlaps.append(overlap_table(cell_list, profile, cache, across="subroutines"))
            overlaps.append(intersected_overlap_table(cell_list, profile, cache))
        kept.append(kept_table(cell_list, profile, cache))
    overlaps = [t for t in overlaps if len(t)] or [pd.DataFrame()]
    return pd.concat(overlaps, ignore_index=True), pd.concat(kept, ignore_index=True)


# ------------------------------------------------------------ committed results tables

BOOL_COLUMNS = ("excluded", "mask_passed")  # read back from CSV as booleans


def committed_runs(profile: Profile, cell_list: Iterable[Cell], results_dir=None):
    """The rows of ``cell_list`` in the committed table ``data/results/<profile>/runs.csv``.

    Written by ``python -m sclib.grid collect``. Returns None when the table does not exist
    or lacks any of the cells (then the caller runs them), else one row per cell in the
    order of ``cell_list``.
    """
    path = (RESULTS_DIR if results_dir is None else results_dir) / profile.name / "runs.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path)
    table = table[table["domain"] == profile.domain] if "domain" in table else table
    fields = [f.name for f in dataclasses.fields(Cell)]
    index = {tuple(r): i for i, r in enumerate(table[fields].itertuples(index=False))}
    wanted = [tuple(getattr(c, f) for f in fields) for c in cell_list]
    if not wanted or any(w not in index for w in wanted):
        return None
    rows = table.iloc[[index[w] for w in wanted]].reset_index(drop=True)
    for column in BOOL_COLUMNS:
        if column in rows:
            rows[column] = as_bool(rows[column])
    return rows


def notebook_rows(
    profiles: Mapping[str, Profile],
    grids: Mapping[str, Iterable[Cell]] | None = None,
    cache: Cache | None = None,
    results_dir=None,
) -> dict[str, pd.DataFrame]:
    """One table per domain for notebooks 02-04: the committed results where they exist.

    For each domain, the rows of ``data/results/<profile>/runs.csv`` when it holds every
    cell of the grid (default ``cells(profile)``), else the cells run (or read from the
    cache) by ``run_grid``. A line says which.
    """
    tables = {}
    for domain, profile in profiles.items():
        cell_list = list(grids[domain] if grids is not None else cells(profile))
        rows = committed_runs(profile, cell_list, results_dir)
        if rows is not None:
            print(f"[{domain}/{profile.name}] {len(rows)} runs from data/results/{profile.name}")
            tables[domain] = rows
        else:
            tables[domain] = run_grid(cell_list, profile, cache)
    return tables
