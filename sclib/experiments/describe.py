"""A profile and its cells in words, for the notebooks' "what runs" cells; and the cells kept.

Used by notebooks 02-04: ``describe_profile`` (sizes, training, each cell),
``describe_regimes`` (notebook 03: which regimes run per architecture and what
"pretrained" means for each) and ``included_cells`` (notebook 04: the cells whose base
model was not excluded, to read their masks back with ``sclib.experiments.collect``).

>>> rows = pd.DataFrame({"task": ["inside_contact"] * 2, "architecture": "resnet",
...     "subroutine": ["inside", "contact"], "regime": "scratch", "variant": "none",
...     "base_seed": 0, "mask_seed": 0, "excluded": ["False", "True"]})
>>> [cell.subroutine for cell in included_cells(rows)]
['inside']
"""

from __future__ import annotations

from dataclasses import fields

import pandas as pd

from sclib.experiments.profiles import PRETRAINING, Cell, Profile
from sclib.stats.vocabulary import (
    PRETRAINING_NAMES,
    REGIMES,
    Pretraining,
    architecture_label,
    as_bool,
)


def describe_profile(profile: Profile, cell_list: list[Cell] | None = None) -> str:
    """What a profile runs, in a few lines (sizes, training, and each cell)."""
    image = f", {profile.image_size} px images" if profile.image_size else ""
    kwargs = f" {dict(profile.model_kwargs)}" if profile.model_kwargs else ""
    lambdas = ", ".join(f"{x:g}" for x in sorted(profile.lambdas, reverse=True))
    lines = [
        f"{profile.domain}/{profile.name}: {profile.n_train} training problems, "
        f"{profile.n_subroutine} per subroutine set, {profile.n_val} validation and "
        f"{profile.n_test} test problems per set{image}",
        f"  model size {profile.model_size}{kwargs}; base training "
        f"{profile.base.epochs} epochs, mask training {profile.mask.epochs} epochs; "
        f"mask grid of {len(profile.grid())} point(s), lambdas {lambdas} walked down "
        f"until a subnetwork passes {profile.selection_threshold} on validation (the "
        "untrained control takes its scratch twin's selected setting); exclusion threshold "
        f"{profile.exclusion_threshold}",
    ]
    if cell_list is not None:
        lines.append(f"  {len(cell_list)} cells:")
        lines += [
            f"    {c.task}/{c.subroutine} · {c.architecture} · {c.regime} · {c.variant} · "
            f"base seed {c.base_seed} · mask seed {c.mask_seed}"
            for c in cell_list
        ]
    return "\n".join(lines)


def describe_regimes(profile: Profile, cell_list: list[Cell]) -> str:
    """Which regimes run per architecture, and what "pretrained" means for each.

    ``cell_list``: ``sclib.experiments.profiles.cells(profile, regimes=...)``, which leaves out the
    pretrained cells the profile cannot pretrain; those are named here with the reason.
    """
    names = {**PRETRAINING_NAMES["ours"], Pretraining.MINILM: "MiniLM's published weights"}
    lines = [f"{profile.domain}/{profile.name}: regimes per architecture"]
    for arch in dict.fromkeys(c.architecture for c in cell_list) or profile.architectures:
        ran = [
            r for r in REGIMES if any(c.architecture == arch and c.regime == r for c in cell_list)
        ]
        method = PRETRAINING.get(arch)
        note = f"pretrained = {names.get(method, method)}" if method else "no pretraining exists"
        if "pretrained" not in ran and method and Pretraining(method).self_supervised:
            note += f" (skipped: profile has no {method} config)"
        n = sum(c.architecture == arch for c in cell_list)
        lines.append(
            f"  {architecture_label(arch, profile.model_size)}: {', '.join(ran)}; {note}; {n} cells"
        )
    return "\n".join(lines)


def included_cells(rows: pd.DataFrame) -> list[Cell]:
    """The cells of the runs whose base model is not excluded, in the order of ``rows``."""
    names = [f.name for f in fields(Cell)]
    kept = rows[~as_bool(rows["excluded"])] if "excluded" in rows else rows
    return [Cell(**record) for record in kept[names].to_dict("records")]  # Python ints
