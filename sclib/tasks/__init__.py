"""Compositional odd-one-out tasks behind one ``get_task``.

Vision (synthetic shape images), language (agreement sentences) and a toy task of
vectors for the quickstart. Each name maps to the module that builds it, imported only
when asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from sclib.tasks.base import ProblemSet, Task, collate_problems

# task name -> (module, factory function)
TASKS: dict[str, tuple[str, str]] = {
    "toy": ("sclib.tasks.toy", "ToyTask"),
    "inside_contact": ("sclib.tasks.vision", "VisionTask"),
    "inside_number": ("sclib.tasks.vision", "VisionTask"),
    "number_contact": ("sclib.tasks.vision", "VisionTask"),
    "sv_agreement": ("sclib.tasks.language", "LanguageTask"),
    "anaphora": ("sclib.tasks.language", "LanguageTask"),
}


def get_task(name: str, **kwargs: Any) -> Task:
    """The task called ``name``, built with ``kwargs`` (e.g. ``image_size``, ``seed``).

    >>> get_task("inside")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'inside'; choose one of: toy, inside_contact, inside_number, number_contact, sv_agreement, anaphora
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    module, factory = TASKS[name]
    return getattr(importlib.import_module(module), factory)(name, **kwargs)


__all__ = ["TASKS", "ProblemSet", "Task", "collate_problems", "get_task"]
