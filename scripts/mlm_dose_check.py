"""Issue #15: why BERT-small after our MLM does not learn SV agreement, and a dose that does.

Each setting is one base model of ``Cell("sv_agreement", "bert_small", "subject",
regime, "singular")`` under the language ``standard`` profile with its ``mlm`` and ``base``
configs replaced, trained (or read) through ``sclib.experiments.base_models.base_model``
and the default cache, so the numbers are what the profile will do. Only accuracies and
costs are recorded (no mask is trained). Beside them, the collapse of the readout: the
mean cosine similarity of the final-layer [CLS] vectors the odd-one-out head compares,
within a problem (its 4 sentences) and across problems, before and after fine-tuning.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 \
        .venv/bin/python scripts/mlm_dose_check.py [--quick] [--only SETTING ...]

A setting is ``regime:mlm_steps:base_lr:base_epochs[:schedule[:batch_size]]`` (mlm_steps 0 for
scratch). Rows are merged into data/results/mlm_dose_standard_check.csv by setting.
``--quick`` runs only the reproduction of the quick profile's failure and the fix.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from sclib.experiments.base_models import base_model, pretrained_embedder, task_for
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell
from sclib.models import build_model

OUT = Path(__file__).resolve().parents[1] / "data/results/mlm_dose_standard_check.csv"
SENTENCES = 19200  # the profiles' mlm_sentences
# in the order they were run (cheapest hypothesis first)
SETTINGS = (
    "scratch:0:init",  # the readout at the random init and after 300 MLM steps
    "pretrained:300:init",
    "pretrained:300:5e-5:2",  # the quick profile's failure
    "pretrained:300:1e-4:2",
    "pretrained:300:3e-4:2",
    "pretrained:100:3e-4:2",
    "pretrained:1000:3e-4:2",
    "scratch:0:3e-4:2",
)
QUICK = ("pretrained:300:5e-5:2", "pretrained:300:3e-4:2")
N_COSINE = 64  # test problems for the cosine measurement


def parse(setting: str) -> dict:
    """``regime:mlm_steps:base_lr:base_epochs[:schedule[:batch_size]]``, or ``regime:mlm_steps:init`` (the
    initial model's diagnostics only, no base training)."""
    regime, steps, *rest = setting.split(":")
    if rest == ["init"]:
        return dict(setting=setting, regime=regime, mlm_steps=int(steps), init_only=True)
    lr, epochs, *rest = rest
    return dict(
        setting=setting,
        regime=regime,
        mlm_steps=int(steps),
        base_lr=float(lr),
        base_epochs=int(epochs),
        base_schedule=rest[0] if rest else "constant",
        base_batch=int(rest[1]) if len(rest) > 1 else None,
    )


def profile_for(s: dict):
    standard = get_profile("language", "standard")
    steps = max(1, s["mlm_steps"])
    if s.get("init_only"):
        s = dict(s, base_lr=standard.base.lr, base_epochs=standard.base.epochs, base_batch=None)
        s["base_schedule"] = standard.base.schedule
    # one pass is 300 steps of 64 sentences: enough epochs for max_steps to be reached
    epochs = math.ceil(steps / math.ceil(SENTENCES / standard.mlm.batch_size))
    return replace(
        standard,
        mlm=replace(standard.mlm, epochs=epochs, max_steps=steps),
        base=replace(
            standard.base,
            lr=s["base_lr"],
            epochs=s["base_epochs"],
            schedule=s["base_schedule"],
            batch_size=s["base_batch"] or standard.base.batch_size,
        ),
    )


@torch.no_grad()
def cls_cosines(model, problems) -> tuple[float, float]:
    """(mean cosine of the 4 [CLS] vectors within a problem, mean cosine across problems)."""
    model.eval()
    flat = [sentence for items in problems for sentence in items]
    e = F.normalize(model.embedder(flat).float(), dim=-1).reshape(len(problems), 4, -1)
    within = e @ e.transpose(1, 2)
    pairs = list(itertools.combinations(range(4), 2))
    within_mean = torch.stack([within[:, i, j] for i, j in pairs]).mean().item()
    first = e[:, 0]  # the first sentence of every problem, against each other
    across = first @ first.T
    off = ~torch.eye(len(problems), dtype=torch.bool)
    return within_mean, across[off].mean().item()


def init_gradient(model, problems, odd) -> tuple[float, float]:
    """(loss, gradient norm over all weights) of one batch of training problems at the init."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(problems), odd)
    loss.backward()
    grads = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return loss.item(), torch.stack(grads).norm().item()


def run(setting: str, cache: Cache) -> dict:
    s = parse(setting)
    profile = profile_for(s)
    cell = Cell("sv_agreement", "bert_small", "subject", s["regime"], "singular", base_seed=0)
    problems = task_for(cell, profile).dataset("compositional", "test", profile.n_test).items
    problems = problems[:N_COSINE]
    train = task_for(cell, profile).dataset("compositional", "train", profile.n_train)
    batch = get_profile("language", "standard").base.batch_size  # same for every row
    row = {k: v for k, v in s.items() if k != "init_only"}
    if s["regime"] == "pretrained":
        start, cpu = time.perf_counter(), time.process_time()
        pre = pretrained_embedder(cell, profile, cache)  # computed and cached before base
        row["mlm_wall_s"] = round(time.perf_counter() - start, 1)
        row["mlm_cpu_s"] = round(time.process_time() - cpu, 1)  # 0 when read from the cache
        row["mlm_time_s"] = round(pre["time_s"], 1)
        row["mlm_loss_last_epoch"] = round(pre["history"]["loss"][-1], 3)
        row["mlm_acc_last_epoch"] = round(pre["history"]["accuracy"][-1], 3)
        init = build_model("bert_small", seed=0, **dict(profile.model_kwargs))
        init.embedder.load_state_dict(pre["state_dict"])
    else:
        init = build_model("bert_small", seed=0, **dict(profile.model_kwargs))
    row["cos_within_init"], row["cos_across_init"] = cls_cosines(init, problems)
    row["loss_init"], row["grad_norm_init"] = init_gradient(
        init, train.items[:batch], train.odd_index[:batch]
    )
    if s.get("init_only"):
        return _rounded(row)
    start, cpu = time.perf_counter(), time.process_time()
    model, info = base_model(cell, profile, cache, progress=False)
    row["wall_s"] = round(time.perf_counter() - start, 1)
    # CPU seconds of this process (both threads): robust to other jobs on the machine
    row["base_cpu_s"] = round(time.process_time() - cpu, 1)
    row["load_avg_1min"] = round(os.getloadavg()[0], 2)
    history = info["history"]
    row.update(
        comp_test_acc=info["comp_test_acc"],
        comp_val_acc_per_epoch=" ".join(f"{a:.3f}" for a in history.get("val_acc", [])),
        train_loss_per_epoch=" ".join(f"{x:.3f}" for x in history.get("train_loss", [])),
        pm_subject_acc=info["pm_subject_acc"],
        pm_verb_acc=info["pm_verb_acc"],
        subroutine_subject_acc=info["subroutine_subject_acc"],
        subroutine_verb_acc=info["subroutine_verb_acc"],
        base_steps=history.get("steps"),
        base_train_time_s=round(info["train_time_s"], 1),
        base_model_id=info["base_model_id"],
    )
    row["cos_within_trained"], row["cos_across_trained"] = cls_cosines(model, problems)
    return _rounded(row)


def _rounded(row: dict) -> dict:
    """Accuracies, cosines, losses and gradient norms to 4 significant digits."""
    for key, value in row.items():
        if isinstance(value, float) and key.startswith(
            ("cos", "comp", "pm", "sub", "loss", "grad")
        ):
            row[key] = float(f"{value:.4g}")
    return row


def merge(rows: list[dict]) -> None:
    old = list(csv.DictReader(OUT.open())) if OUT.exists() else []
    by_setting = {r["setting"]: r for r in old} | {r["setting"]: r for r in rows}
    order = [s for s in SETTINGS if s in by_setting] + [s for s in by_setting if s not in SETTINGS]
    fields = list(dict.fromkeys(k for r in by_setting.values() for k in r))
    with OUT.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields, restval="")
        writer.writeheader()
        writer.writerows(by_setting[s] for s in order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only: " + ", ".join(QUICK))
    parser.add_argument("--only", nargs="+", help="these settings (regime:mlm:lr:epochs)")
    args = parser.parse_args()
    settings = args.only or (QUICK if args.quick else SETTINGS)
    cache = Cache()
    for setting in settings:
        row = run(setting, cache)
        print({k: row[k] for k in row if "per_epoch" not in k}, flush=True)
        print("  val_acc per epoch:", row.get("comp_val_acc_per_epoch"), flush=True)
        merge([row])


if __name__ == "__main__":
    main()
