"""Tables of the masks of finished runs: where they overlap and what each keeps (notebook 04).

Part of the one seam between runs on disk and tables (with :mod:`sclib.experiments.collect`):
``overlap_for_base``, ``overlap_table``, ``intersected_overlap_table`` and ``kept_table``
load the selected masks of runs with ``sclib.experiments.collect.load_cell`` and hand them
to ``sclib.stats.overlap``; ``mask_tables`` makes the overlap and kept tables for every
domain of a notebook (notebook 04).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from sclib.experiments.cache import Cache
from sclib.experiments.collect import ReadOnlyCache, load_cell
from sclib.experiments.profiles import Cell, Profile
from sclib.stats.overlap import as_kept, intersected_overlap, kept_by_layer, mask_overlap
from sclib.stats.vocabulary import BASE_COLUMNS


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


MASK_TABLES = ("overlap", "kept")  # written beside a committed runs.csv


def write_mask_tables(
    runs: pd.DataFrame, profiles: Mapping[str, Profile], cache: Cache, folder
) -> list[Path]:
    """Notebook 04's mask tables (``mask_tables``) of the collected runs ``runs`` (their
    included cells, each domain under ``profiles[domain]``), read from ``cache`` without
    computing anything (``LookupError`` when a mask is not there), written as
    ``overlap.csv`` and ``kept.csv`` in ``folder``: the committed table then redraws
    notebook 04 without the cache. Returns the paths written."""
    from sclib.experiments.describe import included_cells

    profiles = {d: p for d, p in profiles.items() if d in set(runs["domain"])}
    included = {d: included_cells(runs[runs["domain"] == d]) for d in profiles}
    tables = mask_tables(profiles, included, ReadOnlyCache(cache.root))
    paths = []
    for stem, table in zip(MASK_TABLES, tables, strict=True):
        paths.append(Path(folder) / f"{stem}.csv")
        table.to_csv(paths[-1], index=False, float_format="%.6g")
    return paths


def committed_mask_tables(name: str, results_dir=None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The mask tables written beside ``data/results/<name>/runs.csv`` (``write_mask_tables``):
    ``(overlap, kept)``, or None when they are not there."""
    from sclib.paths import RESULTS_DIR

    folder = (RESULTS_DIR if results_dir is None else Path(results_dir)) / name
    paths = [folder / f"{stem}.csv" for stem in MASK_TABLES]
    if not all(path.exists() for path in paths):
        return None
    return tuple(pd.read_csv(path) for path in paths)
