"""Vision tasks: every rule is re-checked on the rendered pixels, with code independent of
the generator (scipy.ndimage), plus determinism, split disjointness, caching, errors."""

from __future__ import annotations

import hashlib
import itertools

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy import ndimage

from sclib.tasks import get_task
from sclib.tasks import scenes as S
from sclib.tasks import vision as V
from sclib.tasks.base import SPLITS

matplotlib.use("Agg")

TASKS = ("inside_contact", "inside_number", "number_contact")
GAPS = {"inside_contact": 3, "inside_number": 2, "number_contact": 3}  # documented, at 48 px
EIGHT = np.ones((3, 3), bool)
N_CHECK = 8  # problems per (task, kind) checked pixel by pixel


# --- pixel geometry, written independently of sclib.tasks.shapes ---------------------------


def chebyshev(a: np.ndarray, b: np.ndarray) -> int:
    """Smallest Chebyshev (8-neighbour) distance between two pixel sets."""
    return int(ndimage.distance_transform_cdt(~b, metric="chessboard")[a].min())


def measure_objects(labels: np.ndarray, gap: int) -> dict:
    """Per-shape facts from a label image (0 background, k the outline of shape k)."""
    k_max = int(labels.max())
    outlines = [labels == k for k in range(1, k_max + 1)]
    fills = [ndimage.binary_fill_holes(o) for o in outlines]
    for o, f in zip(outlines, fills, strict=True):
        assert ndimage.label(o, EIGHT)[1] == 1, "an outline is not one 8-connected curve"
        assert (f & ~o).any(), "an outline encloses nothing"
    inside, touch = set(), set()
    for a, b in itertools.permutations(range(k_max), 2):
        if not (fills[a] & fills[b]).any():
            continue
        assert (fills[a] <= (fills[b] & ~outlines[b])).all() or (
            fills[b] <= (fills[a] & ~outlines[a])
        ).all(), "two shapes overlap without one inside the other"
        if (fills[a] <= (fills[b] & ~outlines[b])).all():
            inside.add((a, b))
    for a, b in itertools.combinations(range(k_max), 2):
        d = chebyshev(outlines[a], outlines[b])
        assert d == 1 or d >= gap + 1, f"shapes {d - 1} px apart: neither touching nor >= {gap}"
        if d == 1:
            touch.add((a, b))
    return {"k": k_max, "inside": inside, "touch": touch}


def measure(task: str, labels: np.ndarray) -> dict:
    """The task's properties of one image, measured on its pixels."""
    m = measure_objects(labels, GAPS[task])
    k, inside, touch = m["k"], m["inside"], m["touch"]
    if task == "inside_contact":
        assert k == 2 and (0, 1) not in inside  # shape 1 is the big one
        return {"inside": (1, 0) in inside, "contact": bool(touch)}
    if task == "inside_number":
        assert k % 2 == 0 and not touch
        assert len(inside) in (0, k // 2), "some but not all small shapes inside"
        bigs = {b for _, b in inside}
        assert len(bigs) == len(inside), "a big shape holds two small ones"
        return {"inside": bool(inside), "number": k // 2}
    assert not inside
    edges = len(touch)
    connected = ndimage.label(labels > 0, EIGHT)[1] == 1
    assert edges == 0 or (edges == k - 1 and connected), "contact is neither a tree nor none"
    return {"number": k, "contact": edges > 0}


def components(image: np.ndarray) -> tuple[int, int]:
    """(8-connected outline pieces, pieces enclosed by another piece), labels unseen."""
    lab, k = ndimage.label(image, EIGHT)
    fills = [ndimage.binary_fill_holes(lab == i) for i in range(1, k + 1)]
    nested = sum(any(fills[j][lab == i + 1].all() for j in range(k) if j != i) for i in range(k))
    return k, nested


@pytest.fixture(scope="module")
def generated() -> dict:
    return {
        (t, kind): V.generate_problems(t, kind, "val", N_CHECK)
        for t in TASKS
        for kind in get_task(t, cache_dir=None).kinds
    }


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_rules_hold_on_the_pixels(generated, task):
    a, b = V.SUBROUTINES[task]
    for kind in get_task(task, cache_dir=None).kinds:
        labels, odd_index, meta = generated[task, kind]
        family, _, sub = kind.partition(":")
        for lab, odd, m in zip(labels, odd_index, meta, strict=True):
            facts = [measure(task, lab[k]) for k in range(4)]
            for p in (a, b):  # meta tells the truth about every image
                assert tuple(f[p] for f in facts) == m[p]
            regular = [facts[k] for k in range(4) if k != odd]
            if family == "subroutine":
                assert m["breaks"] == (sub,)
                if sub == "number":
                    assert len({f["number"] for f in regular}) == 1
                    assert facts[odd]["number"] != regular[0]["number"]
                else:
                    assert all(f[sub] for f in regular) and not facts[odd][sub]
                continue
            if family == "pm":
                assert m["breaks"] == (sub,)
            for p in (a, b):
                if p == "number":
                    assert len({f["number"] for f in regular}) == 1
                    broken = facts[odd]["number"] != regular[0]["number"]
                else:
                    assert all(f[p] for f in regular)
                    broken = not facts[odd][p]
                assert broken == (p in m["breaks"]), (kind, p, m["breaks"])


@pytest.mark.parametrize("task", TASKS)
def test_pieces_and_nesting_without_labels(generated, task):
    labels, _, meta = generated[task, "compositional"]
    for lab, m in zip(labels, meta, strict=True):
        for k in range(4):
            pieces, nested = components(lab[k] > 0)
            if task == "inside_contact":
                assert pieces == (1 if m["contact"][k] else 2)
                if not m["contact"][k]:
                    assert nested == int(m["inside"][k])
            elif task == "inside_number":
                n = m["number"][k]
                assert (pieces, nested) == (2 * n, n if m["inside"][k] else 0)
            else:
                assert pieces == (1 if m["contact"][k] else m["number"][k])


def test_compositional_breaks_in_equal_thirds():
    _, odd, meta = V.generate_problems("inside_contact", "compositional", "train", 30)
    counts = {}
    for m in meta:
        counts[m["breaks"]] = counts.get(m["breaks"], 0) + 1
    assert counts == {("inside",): 10, ("contact",): 10, ("inside", "contact"): 10}
    assert set(odd.tolist()) == {0, 1, 2, 3}


def test_free_property_varies_in_subroutine_sets(generated):
    _, _, meta = generated["inside_contact", "subroutine:contact"]
    assert len({v for m in meta for v in m["inside"]}) == 2
    _, _, meta = generated["inside_number", "subroutine:inside"]
    assert len({v for m in meta for v in m["number"]}) > 1


@pytest.mark.parametrize(
    "task, kind",
    [
        ("inside_contact", "compositional"),
        ("inside_contact", "subroutine:contact"),
        ("inside_number", "pm:inside"),
        ("number_contact", "pm:contact"),
    ],
)
def test_no_shortcut_by_ink_size_or_kind(task, kind):
    """Picking the image with the most / least ink, summed radius or circles is at chance
    (0.25) when the odd image breaks inside or contact. (Number is, unavoidably, ink.)"""
    labels, odd, meta = V.generate_problems(task, kind, "train", 160)
    features = {
        "ink": (labels > 0).sum((2, 3)),
        "radius": [[sum(o[1] for o in im) for im in m["objects"]] for m in meta],
        "circles": [[sum(o[0] == "circle" for o in im) for im in m["objects"]] for m in meta],
    }
    jitter = np.random.default_rng(0).random((len(odd), 4)) * 1e-3  # random tie-breaking
    for name, f in features.items():
        f = np.asarray(f, float) + jitter
        for pick in (np.argmax, np.argmin):
            acc = np.mean(pick(f, 1) == odd)
            assert acc < 0.37, f"{name} {pick.__name__} finds the odd image {acc:.2f} of the time"


# --- the dataset contract -------------------------------------------------------------------


def test_dataset_format_and_params():
    task = get_task("number_contact", cache_dir=None)
    ds = task.dataset("pm:contact", "train", 5)
    assert ds.items.shape == (5, 4, 1, 48, 48) and ds.items.dtype == torch.float32
    assert set(ds.items.unique().tolist()) == {0.0, 1.0}
    items, odd, meta = ds[0]
    assert items.shape == (4, 1, 48, 48) and 0 <= odd < 4 and meta["breaks"] == ("contact",)
    assert {"task", "kind", "split", "n", "seed", "image_size"} <= set(ds.params)
    assert ds.params["kind"] == "pm:contact" and ds.params["n"] == 5
    labels, _, _ = V.generate_problems("number_contact", "pm:contact", "train", 5)
    assert torch.equal(ds.items[:, :, 0], torch.from_numpy(labels > 0).float())


def test_other_image_sizes():
    ds = V.VisionTask("inside_contact", image_size=64, cache_dir=None).dataset(
        "compositional", "val", 2
    )
    assert ds.items.shape == (2, 4, 1, 64, 64)


def test_deterministic_and_prefix_stable():
    a = V.generate_problems("inside_number", "compositional", "train", 6, seed=3)
    b = V.generate_problems("inside_number", "compositional", "train", 6, seed=3)
    c = V.generate_problems("inside_number", "compositional", "train", 3, seed=3)
    d = V.generate_problems("inside_number", "compositional", "train", 3, seed=4)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert np.array_equal(a[0][:3], c[0]) and np.array_equal(a[1][:3], c[1])
    assert not np.array_equal(c[0], d[0])


def problem_hashes(labels: np.ndarray) -> set[str]:
    return {hashlib.sha256((lab > 0).tobytes()).hexdigest() for lab in labels}


def image_hashes(labels: np.ndarray) -> set[str]:
    return {hashlib.sha256((im > 0).tobytes()).hexdigest() for lab in labels for im in lab}


def test_splits_share_no_problem():
    splits = {s: V.generate_problems("inside_contact", "compositional", s, 40)[0] for s in SPLITS}
    problems = {s: problem_hashes(x) for s, x in splits.items()}
    images = {s: image_hashes(x) for s, x in splits.items()}
    for s, t in itertools.combinations(SPLITS, 2):
        assert not problems[s] & problems[t]
        assert not images[s] & images[t]


# --- cache ----------------------------------------------------------------------------------


def fail(*args, **kwargs):
    raise AssertionError("generated again instead of read from the cache")


def test_cache_is_reused(tmp_path, monkeypatch):
    task = V.VisionTask("inside_contact", cache_dir=tmp_path)
    first = task.dataset("pm:inside", "val", 3)
    files = list((tmp_path / "datasets").glob("*.pt"))
    assert len(files) == 1 and not list((tmp_path / "datasets").glob("*tmp*"))
    monkeypatch.setattr(V, "generate_problems", fail)
    again = task.dataset("pm:inside", "val", 3)
    assert torch.equal(first.items, again.items) and torch.equal(first.odd_index, again.odd_index)
    assert first.meta == again.meta and first.params == again.params


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_params"])
def test_damaged_cache_is_regenerated(tmp_path, damage):
    task = V.VisionTask("inside_contact", cache_dir=tmp_path)
    fresh = task.dataset("compositional", "test", 3)
    (path,) = (tmp_path / "datasets").glob("*.pt")
    if damage == "garbage":
        path.write_bytes(b"not a torch file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        record = torch.load(path, weights_only=True)
        record["params"] = {**record["params"], "seed": 99}
        torch.save(record, path)
    again = task.dataset("compositional", "test", 3)
    assert torch.equal(fresh.items, again.items) and fresh.meta == again.meta
    assert V._load(path, fresh.params) is not None, "the damaged file was not replaced"


def test_cache_key_covers_every_param(tmp_path):
    task = V.VisionTask("inside_contact", cache_dir=tmp_path)
    base = task.params("compositional", "train", 10)
    paths = {task.cache_path(base)}
    for key, value in [("seed", 1), ("image_size", 64), ("n", 11), ("split", "val")]:
        paths.add(task.cache_path({**base, key: value}))
    assert len(paths) == 5
    assert V.VisionTask("inside_contact", cache_dir=None).cache_path(base) is None


# --- errors ---------------------------------------------------------------------------------


def test_errors_list_valid_names():
    with pytest.raises(ValueError, match="pm:inside, pm:contact"):
        get_task("inside_contact").dataset("pm:number", "train", 2)
    with pytest.raises(ValueError, match="subroutine:number, subroutine:contact"):
        get_task("number_contact").dataset("subroutine:inside", "train", 2)
    with pytest.raises(ValueError, match="inside_contact, inside_number, number_contact"):
        V.VisionTask("inside")
    with pytest.raises(ValueError, match="train, val, test"):
        get_task("inside_number").dataset("compositional", "dev", 2)
    with pytest.raises(ValueError, match="inside, contact"):
        get_task("inside_contact").other("number")


# --- augmentation and drawing ---------------------------------------------------------------


def dihedral(x: torch.Tensor) -> list[torch.Tensor]:
    rots = [torch.rot90(x, k, (-2, -1)) for k in range(4)]
    return rots + [r.flip(-1) for r in rots]


def test_augment_is_a_symmetry_per_image(generated):
    labels, _, meta = generated["inside_number", "compositional"]
    items = torch.from_numpy(labels > 0).float().unsqueeze(2)
    out = V.augment_images(items, torch.Generator().manual_seed(0))
    assert out.shape == items.shape
    used = set()
    for i, k in itertools.product(range(len(items)), range(4)):
        matches = [j for j, d in enumerate(dihedral(items[i, k])) if torch.equal(d, out[i, k])]
        assert matches, "an augmented image is not a flip/transpose of its original"
        used.add(matches[0])
        n = meta[i]["number"][k]
        assert components(out[i, k, 0].numpy() > 0) == (2 * n, n if meta[i]["inside"][k] else 0)
    assert len(used) > 2, "every image got the same transform"
    again = V.augment_images(items, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_draw_problems():
    ds = V.VisionTask("inside_contact", cache_dir=None).dataset("compositional", "val", 2)
    fig = V.show_problems(ds, 2, title="inside_contact")
    assert len(fig.axes) == 2 and "breaks" in fig.axes[0].get_title()
    plt.close(fig)


# --- bounds: no size makes a call run unboundedly (issue #18) -----------------------------


@pytest.mark.parametrize("change", [{"big": (3.0, 7.0)}, {"counts": (2, 12)}])
def test_smallest_image_size_follows_the_layout(change, monkeypatch):
    """Computed from LAYOUTS: smaller shapes (which must still draw solid) or more of them
    need a larger image, and every size from the smallest on fits."""
    before = V.smallest_image_size("number_contact")
    assert all(S.Geometry("number_contact", s).fits() for s in range(before, 200))
    layout = dict(S.LAYOUTS["number_contact"], **change)
    monkeypatch.setitem(S.LAYOUTS, "number_contact", layout)
    V.smallest_image_size.cache_clear()
    try:
        assert V.smallest_image_size("number_contact") > before
    finally:
        monkeypatch.undo()
        V.smallest_image_size.cache_clear()


def test_a_shape_too_small_to_draw_fails_after_bounded_redraws():
    from sclib.tasks.shapes import SOLID_RADIUS, random_shape

    with pytest.raises(ValueError, match="radius 0.50 px"):
        random_shape(np.random.default_rng(0), 0.5)
    for seed in range(50):  # a solid circle always fits SOLID_RADIUS, whatever the phase
        random_shape(np.random.default_rng(seed), SOLID_RADIUS, kind="circle")


def test_an_image_that_cannot_be_placed_fails_within_its_budget(monkeypatch):
    monkeypatch.setattr(S, "_MAX_SHAPES", 20)
    g = S.Geometry("inside_number", 48)
    never = lambda rng, g, **props: S._shape(rng, g, g.big) and None  # noqa: E731
    monkeypatch.setitem(S._SCENES, "inside_number", never)
    with pytest.raises(RuntimeError, match="drew 20 shapes .* use a larger image_size"):
        S.draw_image(np.random.default_rng(0), "inside_number", g, {})
