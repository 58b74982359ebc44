"""A toy compositional task of vectors, for the quickstart notebook.

Each item is a vector of ``dim`` numbers in two halves. The *left* half carries property
``left``, the *right* half property ``right``; the three regular items of a
compositional problem have both, the odd one lacks one or both. Neither property can be
read off linearly: inside each half, two hidden coordinates ``(u, v)`` decide it by the
XOR of their signs (the property holds when ``u`` and ``v`` have the same sign), the
other coordinates of the half are Gaussian distractors of standard deviation ``noise``,
and a fixed random rotation of the half (drawn from ``seed``) spreads code and
distractors over all its coordinates. A network has to compute each property with a
hidden layer; the two computations need nothing from each other, so a network *can*
keep them apart, and the notebook asks whether it does.

Subroutines: ``left`` and ``right`` (``f(x) = left(x) AND right(x)``). Used by
``notebooks/00_quickstart.ipynb``.

>>> task = ToyTask("toy", dim=8)
>>> ds = task.dataset("pm:left", "test", n=5)
>>> tuple(ds.items.shape), ds.meta[0]["breaks"]
((5, 4, 8), ('left',))
>>> holds = task.properties(ds.items)  # (5, 4) booleans per property
>>> odd = torch.nn.functional.one_hot(ds.odd_index, 4).bool()
>>> bool((holds["left"] == ~odd).all()), bool(holds["right"].all())
(True, True)
"""

from __future__ import annotations

import math
import numbers
import zlib

import numpy as np
import torch

from sclib.tasks.base import N_ITEMS, ProblemSet, Task, check_seed, is_int

SUBROUTINES = ("left", "right")
_MAGNITUDE = (0.5, 1.5)  # |u|, |v| drawn from this range: the sign is never ambiguous


def _stable_seed(*parts: object) -> int:
    """A 32-bit number from strings and ints, the same on every run and machine."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


class ToyTask(Task):
    """Odd-one-out over vectors whose rule is ``left AND right`` (module docstring).

    Args:
        name: the registry name (``"toy"``).
        dim: item length, even and at least 4; each half has ``dim // 2`` coordinates.
        noise: standard deviation of the distractor coordinates.
        seed: draws the rotations and every problem; the same seed gives the same sets.
    """

    subroutines = SUBROUTINES

    def __init__(self, name: str = "toy", dim: int = 16, noise: float = 1.0, seed: int = 0):
        if name != "toy":
            raise ValueError(f"unknown toy task {name!r}; choose: toy")
        if not is_int(dim) or dim < 4 or dim % 2:
            raise ValueError(f"dim must be an even int >= 4 (two halves of >= 2), got {dim!r}")
        if not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
        self.name, self.dim, self.noise, self.seed = name, int(dim), float(noise), check_seed(seed)
        rng = np.random.default_rng(np.random.SeedSequence([seed, _stable_seed("rotations")]))
        half = dim // 2
        # one orthogonal matrix per half (QR of a Gaussian matrix, signs fixed)
        self.rotations = []
        for _ in SUBROUTINES:
            q, r = np.linalg.qr(rng.standard_normal((half, half)))
            self.rotations.append(q * np.sign(np.diag(r)))

    def __repr__(self) -> str:
        return f"ToyTask({self.name!r}, dim={self.dim}, noise={self.noise}, seed={self.seed})"

    def properties(self, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """Which items have each property: ``{"left": bool (...), "right": bool (...)}``.

        Works on any batch shape ``(..., dim)`` by undoing the rotations.
        """
        x = items.detach().cpu().double().numpy()
        half = self.dim // 2
        out = {}
        for k, (sub, rot) in enumerate(zip(SUBROUTINES, self.rotations, strict=True)):
            z = x[..., k * half : (k + 1) * half] @ rot  # back to (u, v, distractors)
            out[sub] = torch.from_numpy(np.sign(z[..., 0]) == np.sign(z[..., 1]))
        return out

    def _half(self, rng: np.random.Generator, holds: np.ndarray, k: int) -> np.ndarray:
        """Vectors (shape ``holds.shape + (dim // 2,)``) whose half ``k`` has ``holds``."""
        half = self.dim // 2
        mag = rng.uniform(*_MAGNITUDE, size=holds.shape + (2,))
        sign_u = rng.choice([-1.0, 1.0], size=holds.shape)
        sign_v = np.where(holds, sign_u, -sign_u)
        code = mag * np.stack([sign_u, sign_v], axis=-1)
        distractors = self.noise * rng.standard_normal(holds.shape + (half - 2,))
        return np.concatenate([code, distractors], axis=-1) @ self.rotations[k].T

    def _make(self, family: str, subroutine: str | None, split: str, n: int) -> ProblemSet:
        kind = family if subroutine is None else f"{family}:{subroutine}"
        rng = np.random.default_rng(
            np.random.SeedSequence([self.seed, _stable_seed(self.name, kind, split)])
        )
        odd = rng.integers(0, N_ITEMS, size=n)
        is_odd = np.arange(N_ITEMS)[None, :] == odd[:, None]  # (n, 4)
        if family == "compositional":
            # the odd item breaks left, right or both, each a third of the time
            which = rng.integers(0, 3, size=n)
            broken = [(which == 0) | (which == 2), (which == 1) | (which == 2)]
        else:
            k = SUBROUTINES.index(subroutine)
            broken = [np.zeros(n, bool), np.zeros(n, bool)]
            broken[k] = np.ones(n, bool)
        holds = [~(is_odd & b[:, None]) for b in broken]  # (n, 4) per property
        if family == "subroutine":
            # only the subroutine decides; the other property varies freely over all 4
            other = 1 - SUBROUTINES.index(subroutine)
            holds[other] = rng.random((n, N_ITEMS)) < 0.5
        items = np.concatenate([self._half(rng, holds[k], k) for k in range(2)], axis=-1)
        meta = [
            {
                "breaks": tuple(s for s, b in zip(SUBROUTINES, broken, strict=True) if b[i]),
                **{s: tuple(bool(v) for v in holds[k][i]) for k, s in enumerate(SUBROUTINES)},
            }
            for i in range(n)
        ]
        params = dict(
            task=self.name, kind=kind, split=split, n=n, dim=self.dim, noise=self.noise,
            seed=self.seed,
        )  # fmt: skip
        return ProblemSet(
            torch.tensor(items, dtype=torch.float32), torch.from_numpy(odd).long(), meta, params
        )
