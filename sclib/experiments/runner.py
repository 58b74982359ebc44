"""Experiments: one cell -> base model -> mask search -> evaluations -> one tidy row.

What is measured (a ``Cell``) and how big (a ``Profile``, ``quick`` or ``full``) are
defined in ``sclib.experiments.profiles``.

``run_cell`` trains (or loads) the base model (``sclib.experiments.base_models``), searches
the profile's mask grid on the subroutine set and selects one mask on the validation split
without looking at ablations (``sclib.experiments.search``), and evaluates the subnetwork,
the zero-ablated model and three random ablations on both "+/-" test sets. The untrained
control is not searched: it takes the setting selected for its trained twin
(``control_setting``). A row says whether its mask passed (``mask_passed``); a trained
model's run whose mask did not, or whose base model fell below the exclusion threshold, is
``excluded`` (``exclusion_reason``). Everything expensive is cached on disk under its full
configuration and code (``sclib.experiments.cache``), so a rerun or an interrupted run
repeats no finished work. ``run_grids`` runs notebooks 02-04's grids, one table per
domain (a cell along its whole lambda ladder: ``sclib.experiments.sensitivity``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from sclib import stopwatch
from sclib.ablation import ABLATION_MODES, ablated, check_complement
from sclib.experiments.base_models import base_model, pretraining_of, task_for
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import PRETRAINING, Cell, MaskSetting, Profile, cells, run_config
from sclib.experiments.search import mask_at, mask_include, searched_mask
from sclib.masks import MaskSet
from sclib.models import ARCHITECTURES
from sclib.provenance import provenance
from sclib.stats.scores import ablation_score, subnetwork_score
from sclib.stats.vocabulary import ABLATION_COLUMNS, REGIMES, SCORE_COLUMNS
from sclib.tasks import task_domain
from sclib.train import evaluate


def _check_pretraining(cell: Cell, profile: Profile) -> None:
    if cell.architecture not in PRETRAINING:
        raise ValueError(
            f"no pretraining for {cell.architecture!r}; regime 'pretrained' needs one "
            f"of: {', '.join(PRETRAINING)}"
        )
    method = PRETRAINING[cell.architecture]
    if method.self_supervised and getattr(profile, method.value) is None:
        raise ValueError(
            f"profile {profile.domain}/{profile.name} has no {method} config, so "
            f"{cell.architecture!r} cannot run in regime 'pretrained'"
        )


def check_cell(cell: Cell, profile: Profile) -> None:
    """Raise ValueError for a cell that cannot run, before anything is computed."""
    if cell.architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {cell.architecture!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    if ARCHITECTURES[cell.architecture] != profile.domain:
        raise ValueError(
            f"architecture {cell.architecture!r} is {ARCHITECTURES[cell.architecture]}, "
            f"but profile {profile.name!r} is for {profile.domain}"
        )
    domain = task_domain(cell.task)  # raises for an unknown task
    if ARCHITECTURES[cell.architecture] != domain:
        valid = [a for a, d in ARCHITECTURES.items() if d == domain]
        raise ValueError(
            f"task {cell.task!r} is a {domain} task but architecture {cell.architecture!r} is "
            f"{ARCHITECTURES[cell.architecture]}; choose one of: {', '.join(valid) or 'none'}"
        )
    if cell.regime not in REGIMES:
        raise ValueError(f"unknown regime {cell.regime!r}; choose one of: {', '.join(REGIMES)}")
    if cell.regime == "pretrained":
        _check_pretraining(cell, profile)
    task = task_for(cell, profile)
    task.other(cell.subroutine)  # raises for an unknown subroutine
    for setting in profile.grid():
        mask_include(cell.architecture, setting.region, profile)


# ---------------------------------------------------------------- the columns of a row


def _cell_columns(cell: Cell, profile: Profile, base_info: dict[str, Any]) -> dict[str, Any]:
    """What was run, and the base model's accuracies on the cell's sets."""
    other = task_for(cell, profile).other(cell.subroutine)
    pretraining = pretraining_of(cell)
    return {
        "source": "sclib",
        "domain": profile.domain,
        **dataclasses.asdict(cell),
        "pretraining": "none" if pretraining is None else str(pretraining),
        "other_subroutine": other,
        "target_test_set": f"pm:{cell.subroutine}",
        "other_test_set": f"pm:{other}",
        "base_model_id": base_info["base_model_id"],
        "base_comp_test_acc": base_info["comp_test_acc"],
        "base_pm_target_acc": base_info[f"pm_{cell.subroutine}_acc"],
        "base_pm_other_acc": base_info[f"pm_{other}_acc"],
        "base_subroutine_acc": base_info[f"subroutine_{cell.subroutine}_acc"],
        "weight_density": profile.weight_density,  # target, of the sparse region's weights
        "base_weight_density": base_info.get("weight_density", 1.0),  # measured
    }


def _test_sets(cell: Cell, profile: Profile) -> dict[str, Any]:
    task = task_for(cell, profile)
    return {
        "target": task.dataset(f"pm:{cell.subroutine}", "test", profile.n_test),
        "other": task.dataset(f"pm:{task.other(cell.subroutine)}", "test", profile.n_test),
    }


def ablated_accuracies(
    cell: Cell, profile: Profile, model, masks: MaskSet, modes: Iterable[str] = ABLATION_MODES
) -> dict[str, Any]:
    """Each ablation mode's accuracies on both "+/-" test sets (``<col>_acc_target/other``).

    Where ``complement_sampled`` cannot run (a layer keeps more than half its weights, so
    its complement is smaller than the subnetwork: ``sclib.ablation.check_complement``), its
    accuracies are NaN and ``complement_note`` says why (``""`` otherwise).
    """
    sets, out = _test_sets(cell, profile), {"complement_note": ""}
    for mode in modes:
        col = ABLATION_COLUMNS[mode]
        if mode == "complement_sampled":
            try:
                check_complement(masks)
            except ValueError as err:
                out.update({f"{col}_acc_{k}": float("nan") for k in sets})
                out["complement_note"] = str(err)
                continue
        with ablated(masks, mode, seed=cell.mask_seed):
            for k, ds in sets.items():
                out[f"{col}_acc_{k}"] = evaluate(model, ds)
    return out


def _evaluate_run(cell: Cell, profile: Profile, model, masks: MaskSet) -> dict[str, Any]:
    """Subnetwork and ablated accuracies on both "+/-" test sets."""
    task = task_for(cell, profile)
    with stopwatch.stage("evaluation"):
        out = {f"sub_acc_{k}": evaluate(model, ds) for k, ds in _test_sets(cell, profile).items()}
        out["sub_acc_mask_task"] = evaluate(
            model, task.dataset(f"subroutine:{cell.subroutine}", "test", profile.n_test)
        )
        return {**out, **ablated_accuracies(cell, profile, model, masks)}


def _score(score, target: float, other: float) -> float:
    """``score(target, other)``, NaN where an accuracy is (an ablation that could not run)."""
    if math.isnan(target) or math.isnan(other):
        return float("nan")
    return float(score(target, other))


def score_columns(accs: dict[str, Any], modes: Iterable[str] = ABLATION_MODES) -> dict[str, float]:
    """The subnetwork score (when the accuracies have it) and each ablation mode's score."""
    scores = {}
    if "sub_acc_target" in accs:
        scores["subnetwork_score"] = _score(
            subnetwork_score, accs["sub_acc_target"], accs["sub_acc_other"]
        )
    for mode in modes:
        col = ABLATION_COLUMNS[mode]
        target, other = accs[f"{col}_acc_target"], accs[f"{col}_acc_other"]
        scores[SCORE_COLUMNS[mode]] = _score(ablation_score, target, other)
    return scores


def _mask_columns(
    masks: MaskSet, setting: MaskSetting, info: dict[str, Any], n_trained: int
) -> dict[str, Any]:
    """The selected mask: its size, its grid point, whether it passed, what the search trained."""
    kept = sum(int(k.sum()) for k in masks.kept().values())
    total = sum(masks[n].size() for n in masks)  # the nonzero (existing) masked weights
    return {
        "sub_l0": kept,
        "l0_max": total,
        "sub_l0_fraction": kept / total,
        "kept_fraction": kept / total,  # of the masked region
        "kept_fraction_of_model": info["kept_fraction_of_model"],  # of all maskable weights
        "masked_stages": setting.region,
        "mask_lr": setting.lr,
        "mask_l0_init": setting.init,
        "l0_lambda": setting.l0_lambda,
        "val_mask_task_acc": info["val_mask_task_acc"],
        "mask_passed": bool(info["mask_passed"]),
        "stopped_early": bool(info.get("stopped_early", False)),
        "n_grid_points": n_trained,  # the masks the search trained
    }


EXCLUSION_REASONS = ("base model below the exclusion threshold", "no subnetwork passed")


def _exclusion_columns(
    cell: Cell, profile: Profile, base_acc: float, mask_passed: bool
) -> dict[str, Any]:
    """Whether a trained model's run is left out of the scores and tests, and why: its base
    model is below the exclusion threshold, or no mask reached the selection threshold
    (``EXCLUSION_REASONS``). The untrained control is never excluded: it is reported
    whether its mask passes or not, as the paper did."""
    if cell.regime == "untrained":
        return {"excluded": False, "exclusion_reason": "", "exclusion_note": ""}
    if base_acc < profile.exclusion_threshold:
        note = f"base compositional test accuracy {base_acc:.3f} < {profile.exclusion_threshold}"
        return {"excluded": True, "exclusion_reason": EXCLUSION_REASONS[0], "exclusion_note": note}
    if not mask_passed:
        note = f"no mask reached validation mask-task accuracy {profile.selection_threshold}"
        return {"excluded": True, "exclusion_reason": EXCLUSION_REASONS[1], "exclusion_note": note}
    return {"excluded": False, "exclusion_reason": "", "exclusion_note": ""}


# ---------------------------------------------------------------- runs


def control_setting(
    cell: Cell, profile: Profile, cache: Cache, progress: bool = True
) -> tuple[MaskSetting, Cell]:
    """The mask setting of an untrained control: the one selected for its trained twin.

    The twin is the same cell (task, architecture, subroutine, variant, seeds) in regime
    ``scratch``, run first (or read from the cache); the paper's ``Random_Configs`` gave
    the untrained backbone the trained model's exact mask configuration. Where a
    ``pretrained`` twin exists too, the ``scratch`` twin is the reference: both start from
    a random initialisation. Returns ``(setting, twin)``.
    """
    twin = dataclasses.replace(cell, regime="scratch")
    row = run_cell(twin, profile, cache, progress=progress)
    setting = MaskSetting(
        row["mask_l0_init"], row["mask_lr"], row["masked_stages"], row["l0_lambda"]
    )
    return setting, twin


def run_cell(
    cell: Cell, profile: str | Profile = "quick", cache: Cache | None = None, progress: bool = True
) -> dict[str, Any]:
    """Run one cell end to end and return its row (see module docstring)."""
    profile = get_profile(ARCHITECTURES.get(cell.architecture, "vision"), profile)
    check_cell(cell, profile)
    cache = cache if cache is not None else Cache()
    run_key = run_config(cell, profile)
    cached = cache.load("runs", run_key)
    if cached is not None:
        return cached

    control_of = ""
    if cell.regime == "untrained":  # no search: the trained twin's setting (control_setting)
        setting, twin = control_setting(cell, profile, cache, progress)
        control_of = twin.regime
    start, spent = time.perf_counter(), stopwatch.totals()
    base, base_info = base_model(cell, profile, cache, progress=progress)
    if control_of:
        found = mask_at(cell, profile, setting, base, cache, progress)
    else:
        found = searched_mask(cell, profile, base, cache, progress)
    model, masks, setting, mask_info, n_trained = found
    accs = _evaluate_run(cell, profile, model, masks)
    row: dict[str, Any] = {
        **_cell_columns(cell, profile, base_info),
        **accs,
        **score_columns(accs),
        **_mask_columns(masks, setting, mask_info, n_trained),
        **_exclusion_columns(cell, profile, base_info["comp_test_acc"], mask_info["mask_passed"]),
        "control_of": control_of,
        "profile": profile.name,
        "wall_time_s": time.perf_counter() - start,
        "base_train_time_s": base_info["train_time_s"],
        "mask_train_time_s": mask_info["train_time_s"],
        # what computing this row cost, per stage (a base model or mask another run had
        # already cached costs it nothing; the twin of an untrained control is its own row)
        **stopwatch.stage_columns(stopwatch.since(spent)),
        **provenance(),
    }
    cache.save("runs", run_key, row)
    return row


def iter_grid(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    progress: bool = True,
) -> Iterator[dict[str, Any]]:
    """Run cells one after another, yielding each row as soon as it is done.

    With ``progress``, one line per finished run (what ran, cached or how long it took),
    which ``make figures`` shows as the notebooks run.
    """
    cell_list = list(cell_list)
    profiles = [
        get_profile(ARCHITECTURES.get(c.architecture, "vision"), profile) for c in cell_list
    ]
    for cell, prof in zip(cell_list, profiles, strict=True):
        check_cell(cell, prof)  # every bad cell is reported before any training
    cache = cache if cache is not None else Cache()
    for i, (cell, prof) in enumerate(zip(cell_list, profiles, strict=True), 1):
        misses, start = cache.misses, time.perf_counter()
        row = run_cell(cell, prof, cache, progress=False)
        if progress:
            took = "cached" if cache.misses == misses else f"{time.perf_counter() - start:.0f} s"
            name = f"{cell.task}/{cell.subroutine} {cell.architecture} {cell.regime}"
            variant = "" if cell.variant == "none" else f" {cell.variant}"
            print(
                f"[{prof.domain}/{prof.name} run {i}/{len(cell_list)}] {name}{variant} "
                f"seeds {cell.base_seed}/{cell.mask_seed}: {took}",
                flush=True,
            )
        yield row


def run_grid(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run cells and return their rows as one tidy table (one row per run)."""
    return pd.DataFrame(list(iter_grid(cell_list, profile, cache, progress)))


def run_grids(
    profiles: Mapping[str, Profile],
    grids: Mapping[str, Iterable[Cell]] | None = None,
    cache: Cache | None = None,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """``run_grid`` for each domain: its cells (default ``cells(profile)``) under its profile.

    Notebooks 02-04 use it on ``notebook_profiles(...)``. Returns one table per domain, in
    the order of ``profiles``.
    """
    grids = grids if grids is not None else {d: cells(p) for d, p in profiles.items()}
    return {d: run_grid(grids[d], p, cache, progress) for d, p in profiles.items()}
