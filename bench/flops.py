"""Issue #13: how close the quick run's training steps already are to this CPU's arithmetic.

Base training is the largest share of the quick run (``python bench/throughput.py``). This
counts the floating-point operations of one base-training step of each quick architecture
(forward and backward, ``torch.utils.flop_counter.FlopCounterMode``: matmuls and convolutions,
which is nearly all of the arithmetic; Adam's elementwise update is not counted but is timed),
on a real batch of its task at the quick profile's batch size, times the whole step (process
time, one thread by default, medians after two warm-up steps) and prints the rate it reaches
beside the rate of a large float32 matrix product on the same thread (the practical ceiling
of this CPU's float32 arithmetic). A step near the ceiling has nothing left to take in
float32: the time comes back only with fewer operations (a different recipe, which changes
results) or lower precision.

    python bench/flops.py [--steps 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from sclib.batches import problem_loader
from sclib.experiments.base_models import _build, task_for
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, base_training

# (label, domain, cell): quick's trained base models (the subroutine does not matter here)
MODELS = (
    ("ResNet (small), vision quick", "vision", Cell("inside_contact", "resnet", "inside")),
    (
        "MiniLM, language quick",
        "language",
        Cell("sv_agreement", "minilm", "subject", "pretrained", "singular"),
    ),
)


def matmul_rate(n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of an ``n`` x ``n`` float32 matrix product (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def training_step(domain: str, cell: Cell):
    """Forward-backward and a whole Adam step of quick base training for ``cell``, on a
    batch of its task (the model starts from its pretrained weights where it has them)."""
    profile = get_profile(domain, "quick")
    config = base_training(profile, cell.regime, cell.task)
    model = _build(cell, profile, Cache()).train()
    data = task_for(cell, profile).dataset("compositional", "train", config.batch_size)
    items, odd, _ = next(iter(problem_loader(data, config.batch_size, None)))
    opt = torch.optim.Adam(model.parameters(), config.lr)

    def forward_backward() -> None:
        opt.zero_grad()
        F.cross_entropy(model(items), odd).backward()

    def step() -> None:
        forward_backward()
        opt.step()

    return forward_backward, step


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--steps", type=int, default=8)
    cli.add_argument("--threads", type=int, default=1)
    args = cli.parse_args()
    if args.steps < 3:
        cli.error(f"--steps must be at least 3 (two are warm-up), got {args.steps}")
    torch.set_num_threads(args.threads)
    ceiling = matmul_rate()
    cpu = torch.backends.cpu.get_cpu_capability()
    print(
        f"CPU capability {cpu}, {args.threads} thread(s); float32 1024^3 matmul: "
        f"{ceiling:.1f} GFLOP/s (the ceiling)"
    )
    for label, domain, cell in MODELS:
        forward_backward, step = training_step(domain, cell)
        counter = FlopCounterMode(display=False)
        with counter:
            forward_backward()
        flops = counter.get_total_flops()
        seconds = statistics.median(
            [_timed(step) for _ in range(args.steps)][2:]
        )  # two warm-up steps
        rate = flops / seconds / 1e9
        print(
            f"  {label:<30} {flops / 1e9:6.2f} GFLOP a step, {seconds:.3f} s a step: "
            f"{rate:5.1f} GFLOP/s, {rate / ceiling:.2f}x the ceiling"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
