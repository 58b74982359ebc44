"""How much a mask-training step costs next to a plain fine-tuning step.

One step = forward, backward and an Adam step. Masked: continuous sparsification from
``sclib.masks`` in training mode, loss = CE + 1e-8 * L0, Adam on the logits only. Plain:
every weight trainable, Adam on all of them. NeuroSurgeon 0.1.0 (if importable; an
optional dev dependency: ``pip install neurosurgeon==0.1.0 --no-deps``) masks the same
layers of the same model. Models: a BERT-small-sized encoder (4 layers, d=512, random
init) and a small InstanceNorm ResNet on 48x48 grey images.

Goals (#13), on the BERT-sized encoder, medians of 30 interleaved steps: masked step
<= 1.05 x plain step and <= 1.0 x NeuroSurgeon's; and a step late in mask training, most
of the mask pruned, <= 1.25 x a step with a fresh mask. The ResNet's ratios are printed
beside (its step is convolutions; the gate is a small share of it). The last goal guards
against denormal floats (see ``sclib.masks.GATE_FLOOR``): without the floor that step was
22x (ResNet) and 43x (BERT) slower on the CPU. The gate is fused by hand
(``sclib.masks._Gated``): before, sclib's BERT step measured 1.018x NeuroSurgeon's on the
2-core CPU; after, 0.979x (5 steps each; `make bench` runs 30).

    python bench/masks.py            # 30 timed repeats after 3 warm-up steps
    python bench/masks.py --quick    # 5 repeats
    python bench/masks.py --cpu-time --threads 1   # steadier on a busy shared CPU
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sclib.masks import add_masks
from sclib.models.vision import ResNet, ResNetConfig

L0_LAMBDA = 1e-8  # the paper's lambda


class ResNetClassifier(nn.Module):
    """sclib's InstanceNorm ResNet (widths 16-128, two blocks per stage), 4-way readout."""

    def __init__(self) -> None:
        super().__init__()
        config = ResNetConfig(layers=(2, 2, 2, 2), widths=(16, 32, 64, 128))
        self.backbone = ResNet(config)
        self.readout = nn.Linear(self.backbone.out_features, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.backbone(x))


class BertClassifier(nn.Module):
    """BERT-small-sized encoder (random init) with a 4-way readout of [CLS]."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(
            hidden_size=512,
            num_hidden_layers=4,
            num_attention_heads=8,
            intermediate_size=2048,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        self.bert = BertModel(config, add_pooling_layer=False)
        self.readout = nn.Linear(512, 4)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.readout(self.bert(input_ids=input_ids).last_hidden_state[:, 0])


def plain_step(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], None]:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()

    return step


def masked_step(
    model: nn.Module, pruned: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """A mask-training step; ``pruned``: late in training, temperature 200, 90% of the
    logits spread over [-0.5, 0), where tiny gates once made denormal floats."""
    ms = add_masks(model, init=0.05)
    if pruned:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for m in ms.values():
                u = torch.rand(m.logits.shape, generator=g)
                m.logits.copy_(torch.where(u < 0.1, 0.5, -0.5 * u))
        ms.temperature = 200.0
    model.train()
    opt = torch.optim.Adam(ms.parameters(), lr=1e-2)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        (F.cross_entropy(model(x), y) + L0_LAMBDA * ms.l0()).backward()
        opt.step()
        opt.zero_grad()

    return step


def neurosurgeon_step(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], None] | None:
    """The same masking done by NeuroSurgeon 0.1.0, or None where it is not installed."""
    try:
        from NeuroSurgeon.Models.circuit_model import CircuitModel
        from NeuroSurgeon.Models.model_configs import CircuitConfig
    except ImportError:
        return None
    targets = [n for n, m in model.named_modules() if type(m) in (nn.Linear, nn.Conv2d)]
    config = CircuitConfig(
        mask_method="continuous_sparsification",
        mask_hparams={
            "ablation": "none",
            "mask_unit": "weight",
            "mask_bias": False,
            "mask_init_value": 0.05,
        },
        target_layers=targets,
        freeze_base=True,
        add_l0=True,
        l0_lambda=L0_LAMBDA,
    )
    circuit = CircuitModel(config, model)
    circuit.train(True)
    masks = [p for p in circuit.parameters() if p.requires_grad]
    opt = torch.optim.Adam(masks, lr=1e-2)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        # CircuitModel.forward takes HF keyword inputs only; this is what it does inside.
        out = circuit.wrapped_model(x)
        (F.cross_entropy(out, y) + L0_LAMBDA * circuit._compute_l0_loss()).backward()
        opt.step()
        opt.zero_grad()

    return step


def time_steps(
    steps: dict,
    x: torch.Tensor,
    y: torch.Tensor,
    warmup: int,
    repeats: int,
    clock=time.perf_counter,
) -> dict:
    """Median seconds per step of each variant, interleaved so drift hits all alike."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    for step in steps.values():
        for _ in range(warmup):
            step(x, y)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync()
            t0 = clock()
            step(x, y)
            sync()
            times[name].append(clock() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def run(name: str, make: Callable[[], nn.Module], x, y, warmup: int, repeats: int, clock) -> dict:
    torch.manual_seed(0)
    base = make().to(x.device)
    steps = {
        "plain": plain_step(copy.deepcopy(base)),
        "masked": masked_step(copy.deepcopy(base)),
        "pruned": masked_step(copy.deepcopy(base), pruned=True),
    }
    ns = neurosurgeon_step(copy.deepcopy(base))
    if ns is not None:
        steps["neurosurgeon"] = ns
    t = time_steps(steps, x, y, warmup, repeats, clock)
    line = f"{name:>8}: plain {t['plain'] * 1e3:7.1f} ms  masked {t['masked'] * 1e3:7.1f} ms"
    line += f"  masked/plain {t['masked'] / t['plain']:.3f}"
    line += f"  pruned/masked {t['pruned'] / t['masked']:.3f}"
    if "neurosurgeon" in t:
        line += f"  neurosurgeon {t['neurosurgeon'] * 1e3:7.1f} ms"
        line += f"  masked/neurosurgeon {t['masked'] / t['neurosurgeon']:.3f}"
    else:
        line += "  (NeuroSurgeon not installed)"
    print(line, flush=True)
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 timed repeats, not 20")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--batch", type=int, default=32, help="BERT batch (sequences of 32)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time CPU steps by process time, not wall time (steadier on a shared machine)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    repeats, warmup = (5, 2) if args.quick else (30, 3)
    cpu_time = args.cpu_time and device.type == "cpu"
    clock = time.process_time if cpu_time else time.perf_counter
    print(
        f"device {device}, threads {torch.get_num_threads()}, median of {repeats} steps, "
        f"{'process' if cpu_time else 'wall'} time"
    )
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30522, (args.batch, 32), generator=g).to(device)
    images = torch.randn(64, 1, 48, 48, generator=g).to(device)
    labels_b = torch.randint(0, 4, (args.batch,), generator=g).to(device)
    labels_r = torch.randint(0, 4, (64,), generator=g).to(device)
    results = {
        "bert": run("bert", BertClassifier, ids, labels_b, warmup, repeats, clock),
        "resnet": run("resnet", ResNetClassifier, images, labels_r, warmup, repeats, clock),
    }
    bert = results["bert"]
    ratio = bert["masked"] / bert["plain"]
    print(
        f"goal: BERT masked/plain <= 1.05 -> {ratio:.3f}: {'met' if ratio <= 1.05 else 'NOT met'}"
    )
    worst = max(t["pruned"] / t["masked"] for t in results.values())
    print(
        f"goal: no denormal slowdown late in training (pruned/masked <= 1.25) -> worst "
        f"{worst:.3f}: {'met' if worst <= 1.25 else 'NOT met'}"
    )
    if "neurosurgeon" in bert:
        ratio = bert["masked"] / bert["neurosurgeon"]
        print(
            f"goal: BERT masked/NeuroSurgeon <= 1.0 -> {ratio:.3f}: "
            f"{'met' if ratio <= 1.0 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
