"""Vision tasks: odd-one-out over four synthetic images of closed shapes (CVR-style).

Each image is a 1-channel outline drawing (circles, rotated squares, irregular stars and
polygons; random size, position, rotation) of ``image_size`` px. Relations are pixel
facts (``shapes.py``): *inside* = the small shape's filled pixels lie in the big shape's
interior; *touching* = outlines 8-adjacent; any two shapes that do not touch are at least
``gap`` blank pixels apart (3 px at 48 px; 2 px for inside_number, which has no contact
rule), so nothing is ambiguous.

| task | rule shared by the regular images | when the property is broken |
|---|---|---|
| ``inside_contact`` | a small shape inside a big one, touching it | inside: the small one is outside; contact: a gap between them |
| ``inside_number`` | N big shapes, each holding a small one; nothing touches | inside: all 2N shapes lie apart; number: N +/- 1 pairs |
| ``number_contact`` | N shapes, all touching | contact: no two shapes touch; number: N +/- 1 shapes |

*All touching* (number_contact): the N outlines form one 8-connected cluster, grown as
a random tree (each new shape touches one earlier shape and is ``gap`` apart from the
rest), so the contact graph is a tree. N is 1-3 for inside_number and 2-5 for
number_contact; the regular and odd counts are an adjacent pair in random order, so both
have the same marginal distribution.

No shortcut by size or shape kind: every image draws its shapes first and keeps them only
if *every* setting of its binary properties can be placed with them (all four for
inside_contact; inside and apart, touching and apart for the others), then places the
setting it needs. Number is the exception that cannot be helped: N +/- 1 shapes of the
same size distribution means more or less ink. Used by notebooks/01_tasks.ipynb.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sclib.paths import CACHE_DIR
from sclib.tasks.base import ProblemSet, Task, check_n, check_seed, check_split, parse_kind
from sclib.tasks.scenes import LAYOUTS, Geometry, draw_image, render

SUBROUTINES: dict[str, tuple[str, str]] = {
    "inside_contact": ("inside", "contact"),
    "inside_number": ("inside", "number"),
    "number_contact": ("number", "contact"),
}
GENERATOR_VERSION = 1  # bump when the images change: it is part of the cache key
# and so is the generator's source (this module, scenes.py, shapes.py, base.py): edited code
# makes new data
GENERATOR_CODE = hashlib.sha256(
    b"".join(
        (Path(__file__).parent / f).read_bytes()
        for f in ("vision.py", "scenes.py", "shapes.py", "base.py")
    )
).hexdigest()[:16]
DEFAULT_CACHE_DIR = CACHE_DIR


def _count_pair(rng, counts: tuple[int, int]) -> tuple[int, int]:
    """(regular N, odd N): adjacent counts in random order, so both share one marginal."""
    low = int(rng.integers(counts[0], counts[1]))
    return (low, low + 1) if rng.random() < 0.5 else (low + 1, low)


def _problem_props(rng, task: str, family: str, sub: str | None, i: int):
    """Which properties the odd image breaks, where it goes, and each image's properties."""
    a, b = SUBROUTINES[task]
    if family == "compositional":
        breaks = ((a,), (b,), (a, b))[i % 3]  # equal thirds
    else:
        breaks = (sub,)
    free = (b if sub == a else a) if family == "subroutine" else None
    odd = int(rng.integers(4))
    counts = LAYOUTS[task].get("counts")
    n_regular, n_odd = _count_pair(rng, counts) if counts else (0, 0)
    images = []
    for k in range(4):
        props: dict[str, Any] = {}
        for p in (a, b):
            broken = k == odd and p in breaks
            if p == free and p == "number":
                props[p] = _count_pair(rng, counts)[0]
            elif p == free:
                props[p] = bool(rng.random() < 0.5)
            elif p == "number":
                props[p] = n_odd if broken else n_regular
            else:
                props[p] = not broken
        images.append(props)
    return breaks, odd, images


def _check_task(name: str) -> str:
    if name not in SUBROUTINES:
        raise ValueError(f"unknown vision task {name!r}; choose one of: {', '.join(SUBROUTINES)}")
    return name


@functools.cache
def smallest_image_size(task: str) -> int:
    """The smallest image side (px) at which ``task``'s layout can be drawn, computed from
    ``LAYOUTS`` (see ``sclib.tasks.scenes.Geometry.fits``); every larger size fits too.

    >>> smallest_image_size("inside_contact") <= 32 and smallest_image_size("number_contact") < 32
    True
    """
    _check_task(task)
    for size in range(1, 4097):
        if Geometry(task, size).fits():
            return size
    raise ValueError(f"LAYOUTS[{task!r}] fits no image of up to 4096 px; make its shapes smaller")


def check_image_size(task: str, image_size: int) -> int:
    """``image_size`` as an int, or ValueError if ``task`` cannot be drawn that small.

    >>> check_image_size("inside_number", 8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: image_size 8 is too small for inside_number; the smallest it can draw is ... px
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise ValueError(f"image_size must be an int (pixels), got {image_size!r}")
    smallest = smallest_image_size(_check_task(task))
    if image_size < smallest:
        raise ValueError(
            f"image_size {image_size} is too small for {task}; the smallest it can draw is "
            f"{smallest} px"
        )
    return int(image_size)


def _stream(task: str, kind: str, split: str, seed: int) -> list[int]:
    """Entropy of one dataset's random stream: stable across runs (no Python hash())."""
    words = [
        int.from_bytes(hashlib.sha256(s.encode()).digest()[:4], "little")
        for s in (task, kind, split)
    ]
    return [int(seed), *words]


def generate_problems(
    task: str,
    kind: str,
    split: str,
    n: int,
    seed: int = 0,
    image_size: int = 48,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Generate ``n`` problems without caching: ``(labels, odd_index, meta)``.

    ``labels`` is uint8 (n, 4, image_size, image_size): 0 background, k the outline of the
    k-th shape of ``meta[i]["objects"][image]``; the image is ``labels > 0``. Problem i
    depends only on (seed, task, kind, split, i), so a smaller n gives a prefix.
    """
    family, sub = parse_kind(kind, SUBROUTINES[_check_task(task)])
    image_size, n = check_image_size(task, image_size), check_n(n)
    split, seed = check_split(split), check_seed(seed)
    g = Geometry(task, image_size)
    entropy = _stream(task, kind, split, seed)
    labels = np.zeros((n, 4, image_size, image_size), np.uint8)
    odd_index = np.zeros(n, np.int64)
    meta = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(i,)))
        breaks, odd, images = _problem_props(rng, task, family, sub, i)
        objects = []
        for k, props in enumerate(images):
            placed = draw_image(rng, task, g, props)
            labels[i, k] = render(placed, image_size)
            objects.append(
                tuple(
                    (
                        s.kind,
                        round(s.radius, 2),
                        round(at[0] + s.center[0], 2),
                        round(at[1] + s.center[1], 2),
                    )
                    for s, at in placed
                )
            )
        odd_index[i] = odd
        facts: dict[str, Any] = {"breaks": breaks}
        for p in SUBROUTINES[task]:
            facts[p] = tuple(props[p] for props in images)
        facts["n_objects"] = tuple(len(o) for o in objects)
        facts["objects"] = tuple(objects)
        meta.append(facts)
    return labels, odd_index, meta


class VisionTask(Task):
    """One of the three vision tasks (``inside_contact``, ``inside_number``,
    ``number_contact``), its datasets cached on disk.

    Args:
        name: the task.
        image_size: image side in px (48 here; 128 in the paper); shape sizes and gaps
            scale with it.
        seed: the seed of every dataset this task makes.
        cache_dir: datasets go to ``cache_dir/datasets/``; None disables caching.

    ``task.dataset(kind, split, n)[i]`` is ``(items, odd_index, meta)``: items float
    (4, 1, H, W) in {0, 1}; ``meta["breaks"]`` the properties the odd image breaks; and
    per-image facts: ``meta[<property>]`` (4 values: bool, or N for number),
    ``"n_objects"``, ``"objects"`` (per image, per shape: kind, radius, centre row, col;
    big shapes first, the small one of pair k after all big ones).
    """

    def __init__(
        self,
        name: str,
        image_size: int = 48,
        seed: int = 0,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    ):
        self.name = _check_task(name)
        self.subroutines = SUBROUTINES[name]
        self.image_size = check_image_size(name, image_size)
        self.seed = check_seed(seed)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def __repr__(self) -> str:
        return f"VisionTask({self.name!r}, image_size={self.image_size}, seed={self.seed})"

    def params(self, kind: str, split: str, n: int) -> dict[str, Any]:
        """Everything that determines a dataset (stored with it and hashed for its cache)."""
        return {
            "task": self.name,
            "kind": kind,
            "split": split,
            "n": n,
            "seed": self.seed,
            "image_size": self.image_size,
            "generator": GENERATOR_VERSION,
            "code": GENERATOR_CODE,
        }

    def cache_path(self, params: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        name = f"{params['task']}_{params['kind'].replace(':', '-')}_{params['split']}_{params['n']}_{key}.pt"
        return self.cache_dir / "datasets" / name

    def _make(self, family: str, subroutine: str | None, split: str, n: int) -> ProblemSet:
        kind = family if subroutine is None else f"{family}:{subroutine}"
        params = self.params(kind, split, n)
        path = self.cache_path(params)
        if path is not None and path.exists():
            problems = _load(path, params)
            if problems is not None:
                return problems
        labels, odd, meta = generate_problems(self.name, kind, split, n, self.seed, self.image_size)
        images = labels > 0
        if path is not None:
            _save(path, params, images, odd, meta)
        items = torch.from_numpy(images).unsqueeze(2).float()
        return ProblemSet(items, torch.from_numpy(odd), meta, params)


def _save(path: Path, params: dict, images: np.ndarray, odd: np.ndarray, meta: list) -> None:
    """Write atomically: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    record = {
        "params": params,
        "bits": torch.from_numpy(np.packbits(images.reshape(-1))),
        "odd_index": torch.from_numpy(odd),
        "meta": meta,
    }
    try:
        torch.save(record, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(path: Path, params: dict) -> ProblemSet | None:
    """The cached problems, or None if the file is unreadable, partial or for other params."""
    try:
        record = torch.load(path, weights_only=True)
        if record["params"] != params:
            return None
        n, size = params["n"], params["image_size"]
        shape = (n, 4, 1, size, size)
        bits = record["bits"].numpy()
        images = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape)
        odd, meta = record["odd_index"], record["meta"]
        if len(odd) != n or len(meta) != n or not all("breaks" in m for m in meta):
            return None
        return ProblemSet(torch.from_numpy(images).float(), odd.long(), list(meta), dict(params))
    except Exception:  # noqa: BLE001 - any failure means: regenerate
        return None


def augment_images(items: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random flips and transposes, drawn independently for every image of a batch
    (B, 4, C, H, W); inside, contact and number are all preserved.

    >>> x = torch.arange(16.0).reshape(1, 4, 1, 2, 2)
    >>> y = augment_images(x, torch.Generator().manual_seed(0))
    >>> y.shape, sorted(y[0, 0].flatten().tolist()) == sorted(x[0, 0].flatten().tolist())
    (torch.Size([1, 4, 1, 2, 2]), True)
    """
    b, k = items.shape[:2]
    flat = items.reshape(b * k, *items.shape[2:])
    code = torch.randint(0, 8, (b * k, 1, 1, 1), generator=generator).to(items.device)
    out = torch.where(code % 2 == 1, flat.flip(-1), flat)
    out = torch.where(code // 2 % 2 == 1, out.flip(-2), out)
    if out.shape[-1] == out.shape[-2]:
        out = torch.where(code // 4 == 1, out.transpose(-1, -2), out)
    return out.reshape(items.shape)


def draw_problem(ax, items: torch.Tensor, odd_index: int, title: str | None = None) -> None:
    """Draw one problem's four images side by side on ``ax``, the odd one framed in red."""
    from matplotlib.patches import Rectangle

    images = items.reshape(4, items.shape[-2], items.shape[-1]).cpu().numpy()
    h, w = images.shape[1:]
    sep = np.full((h, 2), 0.5)
    strip = np.concatenate([x for img in images for x in (img, sep)][:-1], axis=1)
    ax.imshow(strip, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.add_patch(
        Rectangle((odd_index * (w + 2) - 0.5, -0.5), w, h, fill=False, edgecolor="red", linewidth=2)
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def show_problems(problems: ProblemSet, n_problems: int = 3, title: str | None = None):
    """A figure of the first ``n_problems`` problems, one row each, titled with what the
    odd image breaks."""
    return _figure([(problems, i, "") for i in range(min(n_problems, len(problems)))], title)


def show_task(task: VisionTask, n_problems: int = 2, split: str = "val"):
    """One figure of ``n_problems`` problems of every dataset kind of ``task`` (uncached
    sets are generated on the fly). Used by notebooks/01_tasks.ipynb."""
    sets = {kind: task.dataset(kind, split, n_problems) for kind in task.kinds}
    rows = [(sets[kind], i, f"{kind}: ") for kind in task.kinds for i in range(n_problems)]
    return _figure(rows, f"{task.name} ({split}, seed {task.seed})")


def _figure(rows: list[tuple[ProblemSet, int, str]], title: str | None):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(rows), 1, figsize=(6, 1.6 * len(rows) + 0.3), squeeze=False, layout="constrained"
    )
    for ax, (problems, i, prefix) in zip(axes[:, 0], rows, strict=True):
        items, odd, meta = problems[i]
        draw_problem(ax, items, odd, f"{prefix}odd image {odd} breaks {', '.join(meta['breaks'])}")
    if title:
        fig.suptitle(title)
    return fig
