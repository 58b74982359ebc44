"""Scenes of the vision tasks: the shapes of one image, placed for one setting of its
properties (``sclib.tasks.vision`` makes the problems from them).

``LAYOUTS`` gives each task's shape radii (at 48 px) and range of N; ``Geometry`` scales
them to an image size and says whether they fit; ``draw_image`` places a scene for one
image's properties (redrawing its shapes within a bounded budget) and ``render`` turns it
into a label image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sclib.tasks.shapes import (
    SOLID_RADIUS,
    Shape,
    dilate,
    overlap_counts,
    paint,
    pick,
    place,
    random_shape,
)

# Shape radii in px at 48 px (scaled with image_size) and the range of N.
LAYOUTS: dict[str, dict[str, Any]] = {
    "inside_contact": {"big": (10.0, 16.0), "small": (3.0, 5.5), "gap": 3},
    "inside_number": {"big": (8.0, 12.0), "small": (2.5, 3.5), "gap": 2, "counts": (1, 3)},
    "number_contact": {"big": (4.0, 7.0), "gap": 3, "counts": (2, 5)},
}
_MAX_TRIES = 500  # scenes per image; big/small pairs per scene
# Shapes drawn for one image, every retry together (so nested retries stay bounded); the
# most seen at valid sizes is about 220 (inside_number, 32 px).
_MAX_SHAPES = 5000

Placed = list[tuple[Shape, tuple[int, int]]]


class Geometry:
    """Canvas size, gap and radius ranges of one task at one image size."""

    def __init__(self, task: str, image_size: int):
        self.task, self.size = task, image_size
        scale = image_size / 48
        layout = LAYOUTS[task]
        self.gap = max(2, round(layout["gap"] * scale))
        self.big = tuple(r * scale for r in layout["big"])
        self.small = tuple(r * scale for r in layout.get("small", layout["big"]))
        self.shapes_left = _MAX_SHAPES

    def fits(self) -> bool:
        """Whether the layout can be drawn at this size: every radius of its ranges draws
        a solid shape, the smallest small shape fits in the largest big one with the gap,
        and the largest scene (all shapes apart, smallest radii) fits by area."""
        layout = LAYOUTS[self.task]
        if min(self.big[0], self.small[0]) < SOLID_RADIUS:
            return False
        has_small = "small" in layout
        if has_small and self.big[1] - self.small[0] < self.gap + 1:
            return False
        n = layout.get("counts", (1, 1))[1]
        radii = [self.big[0]] * n + [self.small[0]] * (n if has_small else 0)
        area = sum((2 * r + 1 + self.gap) ** 2 for r in radii)
        return area <= (self.size + self.gap) ** 2

    def blank(self) -> np.ndarray:
        return np.zeros((self.size, self.size), bool)

    def canvas(self, mask: np.ndarray, at: tuple[int, int]) -> np.ndarray:
        return paint(self.blank(), mask, at)


def _shape(rng: np.random.Generator, g: Geometry, radii: tuple[float, float]) -> Shape:
    """A random shape with a radius in ``radii``, counted against the image's budget."""
    if g.shapes_left <= 0:
        raise RuntimeError(
            f"drew {_MAX_SHAPES} shapes for one {g.task} image at {g.size} px without "
            f"placing a scene; use a larger image_size (48 is the default)"
        )
    g.shapes_left -= 1
    return random_shape(rng, float(rng.uniform(*radii)))


def _pair(rng, g: Geometry, touching: bool = False) -> tuple[Shape, Shape, list[np.ndarray]]:
    """A big and a small shape, redrawn until the small one fits inside the big one with a
    gap (and, if ``touching``, also touching it); with the small one's allowed offsets
    relative to the big one's box: [with a gap] or [with a gap, touching]."""
    for _ in range(_MAX_TRIES):
        big, small = _shape(rng, g, g.big), _shape(rng, g, g.small)
        if small.fill.shape[0] > big.fill.shape[0] or small.fill.shape[1] > big.fill.shape[1]:
            continue
        outside = ~big.interior
        if touching:
            free = (
                overlap_counts(
                    small, np.stack([dilate(outside, g.gap), outside, dilate(outside, 1)])
                )
                < 0.5
            )
            maps = [free[0], free[1] & ~free[2]]
        else:
            maps = [overlap_counts(small, dilate(outside, g.gap)[None])[0] < 0.5]
        if all(m.any() for m in maps):
            return big, small, maps
    raise RuntimeError(
        f"no small shape fits inside a big one at {g.size} px; use a larger image_size"
    )


def _inside_contact(rng, g: Geometry, inside: bool, contact: bool) -> Placed | None:
    big, small, (inside_gap, inside_touch) = _pair(rng, g, touching=True)
    at_big = place(rng, big, g.blank())
    if at_big is None:
        return None
    fill = g.canvas(big.fill, at_big)
    free = overlap_counts(small, np.stack([fill, dilate(fill, 1), dilate(fill, g.gap)])) < 0.5
    outside_touch, outside_gap = free[0] & ~free[1], free[2]
    if not (outside_touch.any() and outside_gap.any()):
        return None  # all four settings must be possible with this pair, here
    if inside:
        dy, dx = pick(rng, inside_touch if contact else inside_gap)
        return [(big, at_big), (small, (at_big[0] + dy, at_big[1] + dx))]
    return [(big, at_big), (small, pick(rng, outside_touch if contact else outside_gap))]


def _inside_number(rng, g: Geometry, inside: bool, number: int) -> Placed | None:
    pairs = [_pair(rng, g) for _ in range(number)]
    bigs, smalls = [p[0] for p in pairs], [p[1] for p in pairs]
    taken, at_bigs = g.blank(), []
    for big in bigs:
        at = place(rng, big, dilate(taken, g.gap))
        if at is None:
            return None
        paint(taken, big.fill, at)
        at_bigs.append(at)
    at_inside = []  # each small one inside its big one, a gap from its outline
    for (_, _, (ok,)), at_big in zip(pairs, at_bigs, strict=True):
        dy, dx = pick(rng, ok)
        at_inside.append((at_big[0] + dy, at_big[1] + dx))
    at_apart = []  # every small one outside, a gap from everything
    for small in smalls:
        at = place(rng, small, dilate(taken, g.gap))
        if at is None:
            return None
        paint(taken, small.fill, at)
        at_apart.append(at)
    return list(zip(bigs + smalls, at_bigs + (at_inside if inside else at_apart), strict=True))


def _number_contact(rng, g: Geometry, number: int, contact: bool) -> Placed | None:
    shapes = [_shape(rng, g, g.big) for _ in range(number)]
    fills: list[np.ndarray] = []  # a touching tree: each shape touches one earlier shape
    at_tree = []
    for k, s in enumerate(shapes):
        if k == 0:
            at = place(rng, s, g.blank())
        else:
            parent = int(rng.integers(k))
            others = [f for j, f in enumerate(fills) if j != parent]
            forbidden = fills[parent] | dilate(np.any(others + [g.blank()], 0), g.gap)
            at = place(rng, s, forbidden, dilate(fills[parent], 1))
        if at is None:
            return None
        fills.append(g.canvas(s.fill, at))
        at_tree.append(at)
    taken, at_apart = g.blank(), []  # no two touching: gap between all
    for s in shapes:
        at = place(rng, s, dilate(taken, g.gap))
        if at is None:
            return None
        paint(taken, s.fill, at)
        at_apart.append(at)
    return list(zip(shapes, at_tree if contact else at_apart, strict=True))


_SCENES = {
    "inside_contact": _inside_contact,
    "inside_number": _inside_number,
    "number_contact": _number_contact,
}


def draw_image(rng, task: str, g: Geometry, props: dict[str, Any]) -> Placed:
    """One image's shapes and their offsets, placed for ``props`` (e.g. ``inside``,
    ``contact``); RuntimeError when no scene can be placed within the budgets."""
    g.shapes_left = _MAX_SHAPES
    for _ in range(_MAX_TRIES):
        placed = _SCENES[task](rng, g, **props)
        if placed is not None:
            return placed
    raise RuntimeError(
        f"could not place {task} shapes with {props} in {g.size} px after {_MAX_TRIES} tries; "
        "use a larger image_size"
    )


def render(placed: Placed, size: int) -> np.ndarray:
    """Label image (size, size) uint8: 0 background, k the outline of the k-th shape."""
    labels = np.zeros((size, size), np.uint8)
    for k, (shape, at) in enumerate(placed, start=1):
        paint(labels, shape.outline, at, k)
    return labels
