"""Issue #13: is channels_last or bf16 autocast faster for the quick ResNet's training step here?

One training step (forward, backward, Adam) of the quick small ResNet on a batch of 64
odd-one-out problems (4 images of 32 px each), in float32, in ``channels_last``, under
``torch.autocast("cpu", dtype=torch.bfloat16)`` and both; the formats interleaved step by
step, process time per step, the median after two warm-up rounds. bf16 pays only on CPUs
with native bf16 (AVX-512 BF16, AMX); ``torch.backends.cpu.get_cpu_capability()`` is printed.

    python bench/step_formats.py [--steps 12] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from sclib.models import build_model

FORMATS = ("float32", "channels_last", "bf16", "channels_last+bf16")


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--steps", type=int, default=12)
    cli.add_argument("--threads", type=int, default=1)
    args = cli.parse_args()
    if args.steps < 3:
        cli.error(f"--steps must be at least 3 (two are warm-up), got {args.steps}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("resnet", seed=0, size="quick", image_size=32)
    images, odd = torch.randn(64, 4, 1, 32, 32), torch.randint(0, 4, (64,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(fmt: str) -> float:
        layout = torch.channels_last if "channels_last" in fmt else torch.contiguous_format
        model.to(memory_format=layout)
        start = time.process_time()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in fmt):
            loss = F.cross_entropy(model(images), odd)
        loss.backward()
        opt.step()
        return time.process_time() - start

    seconds: dict[str, list[float]] = {f: [] for f in FORMATS}
    for _ in range(args.steps):
        for fmt in FORMATS:
            seconds[fmt].append(step(fmt))
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"CPU capability {cpu}, {args.threads} thread(s), {args.steps} steps a format")
    base = statistics.median(seconds["float32"][2:])
    for fmt in FORMATS:
        median = statistics.median(seconds[fmt][2:])
        print(f"  {fmt:<20} {median:.3f} s a step  ({median / base:.2f}x float32)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
