"""Closed shapes on a pixel grid: drawing them and placing them (used by ``vision.py``).

A shape is rasterised once, in its own small box, as filled pixels and an outline; placing
it is an integer offset, so a shape looks the same wherever it goes. Every relation is a
fact about pixels (Chebyshev distance = 8-neighbour steps):

- *outline*: the filled pixels with a 4-neighbour outside the fill (what is drawn);
- *interior*: the filled pixels that are not outline;
- *a inside b*: every filled pixel of a lies in b's interior;
- *a touches b*: the outlines do not overlap and are 8-adjacent (distance 1);
- *a apart from b by gap g*: at least g blank pixels between them (distance >= g + 1).

Where a shape may go is found for all offsets at once by FFT correlation of its fill with
a canvas of forbidden (or required) pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

KINDS = ("circle", "square", "star", "polygon")
# A circle of this radius (px) always has an interior pixel, whatever its sub-pixel phase:
# the grid point nearest the centre is at most (0.5, 0.5) off, so its farthest 4-neighbour
# is at most sqrt(1.5**2 + 0.5**2) away. Smaller shapes may come out all outline.
SOLID_RADIUS = math.sqrt(2.5)
MAX_SHAPE_DRAWS = 1000  # redraws of one shape; a circle (1 kind in 4) of SOLID_RADIUS succeeds


@dataclass(eq=False)
class Shape:
    """One rasterised closed shape in its own box (1 blank pixel around the fill).

    Attributes:
        kind: one of ``KINDS``.
        radius: circumradius in pixels.
        fill: bool (h, w), the filled pixels.
        outline: bool (h, w), the drawn pixels.
        center: (row, col) of the shape's centre inside its box.
    """

    kind: str
    radius: float
    fill: np.ndarray
    outline: np.ndarray
    center: tuple[float, float]
    _kernel: dict = field(default_factory=dict, repr=False)

    @property
    def interior(self) -> np.ndarray:
        return self.fill & ~self.outline

    def kernel_fft(self, shape: tuple[int, int]) -> np.ndarray:
        """conj(FFT) of the fill padded to a canvas of ``shape``, for correlations."""
        if shape not in self._kernel:
            self._kernel[shape] = np.conj(np.fft.rfft2(self.fill, s=shape))
        return self._kernel[shape]


def _vertices(rng: np.random.Generator, kind: str, radius: float) -> np.ndarray:
    """Polygon vertices (V, 2) as (d_row, d_col) around the centre, random rotation."""
    theta0 = rng.uniform(0, 2 * np.pi)
    if kind == "square":
        angles = theta0 + np.arange(4) * np.pi / 2
        radii = np.full(4, radius)
    elif kind == "star":  # 5-7 points, irregular outer and inner radii
        k = int(rng.integers(5, 8))
        angles = theta0 + np.arange(2 * k) * np.pi / k + rng.uniform(-0.15, 0.15, 2 * k) * np.pi / k
        radii = np.where(
            np.arange(2 * k) % 2 == 0,
            rng.uniform(0.85, 1.0, 2 * k),
            rng.uniform(0.5, 0.7, 2 * k),
        )
        radii = radii * radius
    else:  # "polygon": 5-8 irregular vertices
        k = int(rng.integers(5, 9))
        angles = theta0 + (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * 2 * np.pi / k
        radii = radius * rng.uniform(0.65, 1.0, k)
    return np.stack([radii * np.sin(angles), radii * np.cos(angles)], axis=1)


def _polygon_mask(vertices: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Even-odd rule: which grid points (rows (n, 1), cols (1, m)) lie inside the polygon."""
    y0, x0 = vertices[:, 0, None, None], vertices[:, 1, None, None]
    y1, x1 = np.concatenate([y0[1:], y0[:1]]), np.concatenate([x0[1:], x0[:1]])
    crosses = (y0 > rows) != (y1 > rows)  # (V, n, 1): edge spans the row
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = np.where(crosses, x0 + (rows - y0) * (x1 - x0) / (y1 - y0), -np.inf)
    return np.logical_xor.reduce(cols < x_at, axis=0)


def _pad1(mask: np.ndarray, dtype=bool) -> np.ndarray:
    """``mask`` with a border of one zero pixel (np.pad is slow for tiny arrays)."""
    out = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype)
    out[1:-1, 1:-1] = mask
    return out


def outline_of(fill: np.ndarray) -> np.ndarray:
    """Filled pixels with at least one 4-neighbour outside the fill."""
    p = _pad1(fill)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return fill & ~inner


def euler_number(mask: np.ndarray) -> int:
    """8-connected components minus holes (Gray's bit quads); 1 for one solid blob.

    >>> euler_number(np.ones((3, 3), bool)), euler_number(np.pad(np.zeros((1, 1), bool), 1, constant_values=True))
    (1, 0)
    """
    p = _pad1(mask, np.int8)
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    s = a + b + c + d
    diagonal = (s == 2) & (a == d)
    return int(((s == 1).sum() - (s == 3).sum() - 2 * diagonal.sum()) // 4)


def random_shape(rng: np.random.Generator, radius: float, kind: str | None = None) -> Shape:
    """A random closed shape of circumradius ``radius`` px, random rotation and sub-pixel
    phase; redrawn (at most ``MAX_SHAPE_DRAWS`` times) until its fill is one solid blob with
    a non-empty interior.

    >>> random_shape(np.random.default_rng(0), 0.4)
    Traceback (most recent call last):
    ...
    ValueError: no solid shape of radius 0.40 px in 1000 draws; use a radius >= 1.58 px
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown shape kind {kind!r}; choose one of: {', '.join(KINDS)}")
    for _ in range(MAX_SHAPE_DRAWS):
        k = kind or KINDS[int(rng.integers(len(KINDS)))]
        half = int(np.ceil(radius)) + 2
        dy, dx = rng.uniform(-0.5, 0.5, 2)
        grid = np.arange(-half, half + 1.0)
        rows, cols = (grid - dy)[:, None], (grid - dx)[None, :]
        if k == "circle":
            fill = rows**2 + cols**2 <= radius**2
        else:
            fill = _polygon_mask(_vertices(rng, k, radius), rows, cols)
        outline = outline_of(fill)
        if euler_number(fill) != 1 or not (fill & ~outline).any():
            continue
        r_any, c_any = np.flatnonzero(fill.any(1)), np.flatnonzero(fill.any(0))
        r0, r1, c0, c1 = r_any[0] - 1, r_any[-1] + 2, c_any[0] - 1, c_any[-1] + 2
        center = (float(half + dy - r0), float(half + dx - c0))
        return Shape(k, float(radius), fill[r0:r1, c0:c1], outline[r0:r1, c0:c1], center)
    raise ValueError(
        f"no solid {kind or 'shape'} of radius {radius:.2f} px in {MAX_SHAPE_DRAWS} draws; "
        f"use a radius >= {SOLID_RADIUS:.2f} px"
    )


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Pixels within Chebyshev distance ``r`` of ``mask`` (a (2r+1)-square max filter)."""
    out = mask.copy()
    for s in range(1, r + 1):
        out[s:] |= mask[:-s]
        out[:-s] |= mask[s:]
    rows = out.copy()
    for s in range(1, r + 1):
        out[:, s:] |= rows[:, :-s]
        out[:, :-s] |= rows[:, s:]
    return out


def paint(canvas: np.ndarray, mask: np.ndarray, at: tuple[int, int], value=True) -> np.ndarray:
    """Set ``canvas`` to ``value`` where ``mask`` (placed with top-left ``at``) is set."""
    y, x = at
    h, w = mask.shape
    canvas[y : y + h, x : x + w][mask] = value
    return canvas


def overlap_counts(shape: Shape, canvases: np.ndarray) -> np.ndarray:
    """For each canvas (K, H, W) and each top-left offset keeping the shape's box inside
    the canvas: how many of its filled pixels fall on set canvas pixels (K, H-h+1, W-w+1)."""
    size = canvases.shape[-2:]
    h, w = shape.fill.shape
    corr = np.fft.irfft2(np.fft.rfft2(canvases) * shape.kernel_fft(size), s=size)
    return corr[..., : size[0] - h + 1, : size[1] - w + 1]


def place(
    rng: np.random.Generator,
    shape: Shape,
    forbidden: np.ndarray,
    required: np.ndarray | None = None,
    tries: int = 8,
) -> tuple[int, int] | None:
    """A uniformly random top-left offset where the shape's fill avoids ``forbidden`` and
    (if given) meets ``required``; None when there is none.

    Without ``required``, a few random offsets are tried first (rejection sampling, also
    uniform over the valid offsets) before all offsets are correlated at once."""
    (size_y, size_x), (h, w) = forbidden.shape, shape.fill.shape
    if h > size_y or w > size_x:
        return None
    if required is None:
        for _ in range(tries):
            y, x = (int(v) for v in rng.integers(0, (size_y - h + 1, size_x - w + 1)))
            if not (forbidden[y : y + h, x : x + w] & shape.fill).any():
                return y, x
        ok = overlap_counts(shape, forbidden[None])[0] < 0.5
    else:
        c = overlap_counts(shape, np.stack([forbidden, required]))
        ok = (c[0] < 0.5) & (c[1] > 0.5)
    return pick(rng, ok)


def pick(rng: np.random.Generator, ok: np.ndarray) -> tuple[int, int] | None:
    """A uniformly random True position of a boolean map, or None."""
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return None
    y, x = divmod(int(idx[rng.integers(len(idx))]), ok.shape[1])
    return y, x
