"""What every task shares: odd-one-out problems, dataset kinds and splits.

A *problem* is ``(items, odd_index, meta)``: four items (images or sentences), the
position of the odd one (0..3), and a dict whose ``"breaks"`` names the properties the
odd item breaks. Vision and language tasks differ only in what an item is.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from sclib.stopwatch import stage

SPLITS = ("train", "val", "test")
N_ITEMS = 4


@dataclass
class ProblemSet(Dataset):
    """A list of odd-one-out problems with the parameters that generated them.

    Attributes:
        items: a tensor of shape (n_problems, 4, ...) for images and vectors, or a list of
            n_problems lists of 4 strings for sentences.
        odd_index: long tensor (n_problems,), the odd item's position.
        meta: one dict per problem; ``meta[i]["breaks"]`` is a tuple of property names.
        params: how the set was made (task, kind, split, seed, ...), kept for provenance.
    """

    items: torch.Tensor | list[list[str]]
    odd_index: torch.Tensor
    meta: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.odd_index)
        if len(self.items) != n or len(self.meta) != n:
            raise ValueError(
                f"items ({len(self.items)}), odd_index ({n}) and meta ({len(self.meta)}) "
                "must have one entry per problem"
            )

    def __len__(self) -> int:
        return len(self.odd_index)

    def __getitem__(self, i: int) -> tuple[Any, int, dict[str, Any]]:
        return self.items[i], int(self.odd_index[i]), self.meta[i]

    def subset(self, n: int) -> ProblemSet:
        """The first ``n`` problems (all when ``n`` exceeds the size)."""
        return ProblemSet(self.items[:n], self.odd_index[:n], self.meta[:n], dict(self.params))


def collate_problems(batch: Sequence[tuple[Any, int, dict]]) -> tuple[Any, torch.Tensor, list]:
    """Stack a list of problems into ``(items, odd_index, metas)`` for a model.

    Tensor items are stacked to (B, 4, ...); string items stay a list of B lists of 4.
    """
    items, odd, metas = zip(*batch, strict=False)
    if isinstance(items[0], torch.Tensor):
        stacked: Any = torch.stack(items)
    else:
        stacked = [list(x) for x in items]
    return stacked, torch.tensor(odd, dtype=torch.long), list(metas)


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for bools, floats and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def parse_kind(kind: str, subroutines: Sequence[str]) -> tuple[str, str | None]:
    """Split a dataset kind into ``(family, subroutine)`` and validate it.

    >>> parse_kind("pm:inside", ["inside", "contact"])
    ('pm', 'inside')
    >>> parse_kind("compositional", ["inside", "contact"])
    ('compositional', None)
    """
    valid = ["compositional"] + [f"{f}:{s}" for f in ("subroutine", "pm") for s in subroutines]
    if not isinstance(kind, str):
        raise ValueError(
            f"dataset kind must be a string, got {kind!r}; choose one of: {', '.join(valid)}"
        )
    family, _, sub = kind.partition(":")
    if kind == "compositional":
        return "compositional", None
    if family in ("subroutine", "pm") and sub in subroutines:
        return family, sub
    raise ValueError(f"unknown dataset kind {kind!r}; choose one of: {', '.join(valid)}")


def check_split(split: str) -> str:
    """``split``, or ValueError naming it and the valid ones."""
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return split


def check_n(n: int) -> int:
    """``n`` as an int, or ValueError unless it is a positive integer."""
    if not is_int(n) or n < 1:
        raise ValueError(f"n (number of problems) must be a positive int, got {n!r}")
    return int(n)


def check_seed(seed: int) -> int:
    """``seed`` as an int, or ValueError unless it is a non-negative integer.

    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be a non-negative int, got -1
    """
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


class Task:
    """A compositional task f(x) = g(A(x), B(x)) with two subroutines A and B.

    Subclasses set ``name`` and ``subroutines`` and implement ``_make(family, subroutine,
    split, n)``; ``dataset`` validates its arguments first and then calls it.
    """

    name: str = ""
    subroutines: tuple[str, str] = ("", "")

    @property
    def kinds(self) -> list[str]:
        """Every dataset kind this task offers."""
        return ["compositional"] + [
            f"{f}:{s}" for f in ("subroutine", "pm") for s in self.subroutines
        ]

    def other(self, subroutine: str) -> str:
        """The subroutine that is not ``subroutine``."""
        a, b = self.subroutines
        if subroutine not in self.subroutines:
            raise ValueError(
                f"unknown subroutine {subroutine!r} for task {self.name!r}; choose one of: {a}, {b}"
            )
        return b if subroutine == a else a

    def dataset(self, kind: str, split: str = "train", n: int = 1000) -> ProblemSet:
        """Problems of one kind and split.

        Args:
            kind: ``"compositional"``, ``"subroutine:<name>"`` (mask-training set) or
                ``"pm:<name>"`` (the "+/-" test set whose odd item breaks only <name>).
            split: ``"train"``, ``"val"`` or ``"test"``; splits never share a problem.
            n: number of problems.
        """
        family, sub = parse_kind(kind, self.subroutines)
        split, n = check_split(split), check_n(n)
        with stage("data"):
            return self._make(family, sub, split, n)

    def _make(self, family: str, subroutine: str | None, split: str, n: int) -> ProblemSet:
        raise NotImplementedError
