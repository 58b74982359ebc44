"""Properties of the task generators over image sizes, counts and seeds (hypothesis).

Every size below a vision task's smallest is refused at once, naming that smallest;
every size from it on draws valid problems. Counts and seeds give exactly that many
problems, the same ones for the same seed, and (vision, language) a smaller count gives a
prefix.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sclib.tasks import get_task
from sclib.tasks.vision import SUBROUTINES, smallest_image_size

VISION = tuple(SUBROUTINES)
FAST = settings(max_examples=12, deadline=None, database=None, derandomize=True)
seeds = st.integers(0, 2**32 - 1)


@FAST
@given(task=st.sampled_from(VISION), data=st.data())
def test_sizes_below_the_smallest_are_refused_naming_it(task, data):
    smallest = smallest_image_size(task)
    size = data.draw(st.integers(-5, smallest - 1))
    with pytest.raises(
        ValueError, match=f"image_size {size} .* smallest it can draw is {smallest}"
    ):
        get_task(task, image_size=size)


@FAST
@given(task=st.sampled_from(VISION), extra=st.integers(0, 40), seed=seeds)
def test_every_size_from_the_smallest_draws_valid_problems(task, extra, seed):
    size = smallest_image_size(task) + extra
    ds = get_task(task, image_size=size, seed=seed, cache_dir=None).dataset(
        "compositional", "val", 1
    )
    items, odd, meta = ds[0]
    assert items.shape == (4, 1, size, size)
    assert set(items.unique().tolist()) == {0.0, 1.0}  # every image draws something
    assert 0 <= odd < 4 and set(meta["breaks"]) <= set(SUBROUTINES[task])


@FAST
@given(
    name=st.sampled_from(["toy", "sv_agreement", "anaphora"]),
    n=st.integers(1, 30),
    k=st.integers(1, 30),
    seed=seeds,
    split=st.sampled_from(["train", "val", "test"]),
)
def test_counts_and_seeds_give_that_many_problems_the_same_each_time(name, n, k, seed, split):
    task = get_task(name, seed=seed)
    kind = task.kinds[seed % len(task.kinds)]
    big, small = task.dataset(kind, split, max(n, k)), task.dataset(kind, split, min(n, k))
    assert len(big) == max(n, k) and len(small) == min(n, k)
    if name != "toy":  # sentences are drawn one problem at a time; toy vectors all at once
        assert torch.equal(big.odd_index[: len(small)], small.odd_index)
        assert big.meta[: len(small)] == small.meta
    again = get_task(name, seed=seed).dataset(kind, split, len(small))
    assert again.meta == small.meta and torch.equal(again.odd_index, small.odd_index)


@FAST
@given(task=st.sampled_from(VISION), seed=seeds, n=st.integers(1, 3))
def test_vision_problems_are_a_function_of_the_seed(task, seed, n):
    kind = "pm:" + SUBROUTINES[task][0]
    a = get_task(task, image_size=32, seed=seed, cache_dir=None).dataset(kind, "test", n)
    b = get_task(task, image_size=32, seed=seed, cache_dir=None).dataset(kind, "test", 1)
    assert torch.equal(a.items[:1], b.items) and a.meta[:1] == b.meta


@FAST
@given(
    name=st.sampled_from(["toy", "sv_agreement", "anaphora", *VISION]),
    n=st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.booleans()),
)
def test_counts_that_are_not_positive_ints_are_refused(name, n):
    kwargs = {"cache_dir": None} if name in VISION else {}
    with pytest.raises(ValueError, match="must be a positive int"):
        get_task(name, **kwargs).dataset("compositional", "train", n)


@FAST
@given(
    name=st.sampled_from(["toy", "sv_agreement", "anaphora", *VISION]),
    seed=st.one_of(st.integers(max_value=-1), st.floats(), st.booleans(), st.text(max_size=3)),
)
def test_seeds_that_are_not_non_negative_ints_are_refused(name, seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        get_task(name, seed=seed)
