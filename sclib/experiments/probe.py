"""Where a model's odd-one-out signal lives: with its subnetwork, without it, with neither.

Made to look inside a puzzling control: removing the subnetwork found in a never-trained
language model *makes* the model solve that subroutine (ablation score about +0.75, as in
the paper). ``odd_signal`` measures, per condition, how far the odd item's embedding lies
from the regular items' (before the head normalises them), so one can see whether the
subnetwork and the rest of the weights carry the signal, and whether the full model does.
``probe_table`` does so for every included run of a notebook's grids (notebook 04; each
run's probe is a cache entry, computed ahead on the grid's pool by ``probe_jobs`` in
``make figures``), and ``signal_by_condition`` lays one measure out as a table of runs by
condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from sclib.ablation import ablated
from sclib.experiments.base_models import task_for
from sclib.experiments.cache import Cache
from sclib.experiments.collect import load_cell
from sclib.experiments.profiles import Cell, Profile, run_config
from sclib.masks import MaskSet, overridden
from sclib.models.head import flatten_items
from sclib.runtime import training_mode

CONDITIONS = ("full", "subnetwork", "rest", "none")


@contextmanager
def probed_as(masks: MaskSet, name: str):
    """The masked model as ``name``: the full model, the subnetwork alone, the rest alone
    (the subnetwork zero-ablated), or none of the masked weights."""
    if name == "full":
        with masks.disabled():
            yield
    elif name == "subnetwork":
        yield
    elif name == "rest":
        with ablated(masks, "zero"):
            yield
    elif name == "none":
        with overridden(masks, {n: (torch.zeros(()), None) for n in masks}):
            yield
    else:
        raise ValueError(f"unknown condition {name!r}; choose one of: {', '.join(CONDITIONS)}")


def _embeddings(model: Any, problems: Any, batch: int) -> torch.Tensor:
    out = []
    for start in range(0, len(problems), batch):
        flat, b, k = flatten_items(problems.items[start : start + batch])
        out.append(model.embedder(flat).reshape(b, k, -1))
    return torch.cat(out)


def odd_signal(model: Any, masks: MaskSet, problems: Any, batch: int = 64) -> pd.DataFrame:
    """The odd-one-out signal of ``model``'s embeddings on ``problems``, per condition.

    A problem's *signal* is the embedding of its odd item minus the mean embedding of its
    three regular ones. One row per condition (``CONDITIONS``: full model, subnetwork
    alone, rest alone, none of the masked weights), with medians over problems of: the
    signal's norm (``signal``), the same relative to the embeddings' mean norm
    (``relative_signal``, what the normalising head sees), and the cosine between this
    condition's signal and the subnetwork's (``cos_to_subnetwork``). The model runs in eval
    mode (binary masks); its mode is restored.
    """
    odd = torch.as_tensor(problems.odd_index)
    rows, signals = [], {}
    with torch.no_grad(), training_mode(model, False):
        for name in CONDITIONS:
            with probed_as(masks, name):
                e = _embeddings(model, problems, batch)
            picked = e[torch.arange(len(odd)), odd]
            signal = picked - (e.sum(1) - picked) / (e.shape[1] - 1)
            signals[name] = signal
            size = e.norm(dim=2).mean(1).clamp_min(1e-12)
            rows.append(
                {
                    "condition": name,
                    "signal": signal.norm(dim=1).median().item(),
                    "relative_signal": (signal.norm(dim=1) / size).median().item(),
                }
            )
    for row in rows:
        cos = F.cosine_similarity(signals[row["condition"]], signals["subnetwork"], dim=1)
        row["cos_to_subnetwork"] = cos.median().item()
    return pd.DataFrame(rows)


def probe_run(cell: Cell, profile: Profile, cache: Cache) -> pd.DataFrame:
    """``odd_signal`` of one run on its target subroutine's "+/-" test set, cached (kind
    ``"probes"``); no rows when its base model is excluded. The run is loaded with
    ``load_cell`` (a cell not cached yet is run)."""

    def compute() -> list[dict[str, Any]]:
        model, masks, row = load_cell(cell, profile, cache)
        if row["excluded"]:
            return []
        test = task_for(cell, profile).dataset(f"pm:{cell.subroutine}", "test", profile.n_test)
        return odd_signal(model, masks, test).to_dict("records")

    return pd.DataFrame(cache.get_or_compute("probes", run_config(cell, profile), compute))


def probe_table(
    profiles: Mapping[str, Profile],
    grids: Mapping[str, Iterable[Cell]],
    cache: Cache | None = None,
) -> pd.DataFrame:
    """``probe_run`` of every run of each domain's grid whose base model is not excluded.

    One row per run and condition, with ``domain``, ``regime`` and ``subroutine``; domains
    in the order of ``profiles``. Used by notebook 04, whose ``make figures`` computes the
    probes ahead on the grid's pool (``probe_jobs``).
    """
    cache = cache if cache is not None else Cache()
    probes = []
    for domain, profile in profiles.items():
        for cell in grids[domain]:
            signal = probe_run(cell, profile, cache)
            if len(signal):
                probes.append(
                    signal.assign(domain=domain, regime=cell.regime, subroutine=cell.subroutine)
                )
    return pd.concat(probes, ignore_index=True)


def probe_jobs(jobs: Iterable[Any]) -> list[Any]:
    """Notebook 04's probes as pool jobs (kind ``"probe"``): one per base-model job of
    ``jobs``, on its cells, needing it."""
    from sclib.experiments.jobs import Job

    return [Job("probe", job.profile, job.cells, (job.name,)) for job in jobs if job.kind == "base"]


def signal_by_condition(probe: pd.DataFrame, value: str) -> pd.DataFrame:
    """One measure of ``probe_table`` (e.g. ``"relative_signal"``): rows (domain, regime,
    subroutine), one column per condition in the order of ``CONDITIONS``, means over runs."""
    index = ["domain", "regime", "subroutine"]
    return probe.pivot_table(index=index, columns="condition", values=value)[list(CONDITIONS)]
