"""Compositional odd-one-out tasks behind one ``get_task``.

Vision (synthetic shape images), language (agreement sentences) and a toy task of
vectors for the quickstart. Each name maps to the module that builds it, imported only
when asked for.
"""

from __future__ import annotations

import importlib
import inspect
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


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return name


def task_domain(name: str) -> str:
    """The domain of task ``name``: the module that builds it (vision, language or toy).

    >>> task_domain("anaphora"), task_domain("inside_number")
    ('language', 'vision')
    """
    return TASKS[_check_name(name)][0].rpartition(".")[2]


def get_task(name: str, **kwargs: Any) -> Task:
    """The task called ``name``, built with ``kwargs`` (e.g. ``image_size``, ``seed``).

    Arguments are checked before anything is generated: an unknown name or keyword, or a
    bad value, raises ValueError naming it and what would be valid.

    >>> get_task("inside")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'inside'; choose one of: toy, inside_contact, inside_number, number_contact, sv_agreement, anaphora
    >>> get_task("sv_agreement", image_size=32)
    Traceback (most recent call last):
    ...
    ValueError: sv_agreement takes no argument 'image_size'; it takes: number, seed, templates
    """
    module, factory = TASKS[_check_name(name)]
    build = getattr(importlib.import_module(module), factory)
    accepted = [p for p in inspect.signature(build).parameters if p not in ("self", "name")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"{name} takes no argument {unknown[0]!r}; it takes: {', '.join(accepted)}"
        )
    return build(name, **kwargs)


__all__ = ["TASKS", "ProblemSet", "Task", "collate_problems", "get_task", "task_domain"]
