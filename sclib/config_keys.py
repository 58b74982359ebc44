"""Config fields that stay out of cache keys at their defaults (``key_neutral``).

A cache key hashes a config's fields (``sclib.experiments.cache``). A field declared with
``key_neutral(default)`` is left out of the key while it holds its default, so a new
option, off by default, does not change the keys of the entries made before it existed:
they are found again (``sclib.experiments.carry`` re-files them once the code that makes
them is shown to compute the same).
"""

from __future__ import annotations

import dataclasses
from typing import Any

KEY_NEUTRAL = {"cache_key": "omitted at its default"}


def key_neutral(default: Any) -> Any:
    """A dataclass field that is left out of cache keys while it equals ``default``."""
    return dataclasses.field(default=default, metadata=KEY_NEUTRAL)


def omitted(obj: Any, field: dataclasses.Field) -> bool:
    """Whether ``field`` of the dataclass instance ``obj`` is left out of its key."""
    neutral = (field.metadata or {}).get("cache_key") == KEY_NEUTRAL["cache_key"]
    return neutral and getattr(obj, field.name) == field.default
