"""What the explorer computes (``notebooks/05_explorer.ipynb`` and ``06_exercises``).

:class:`Subnetworks` offers the trained subnetworks (a task, an architecture, a regime,
a subroutine) of the runs stored in the cache (``make figures`` fills it), the quick runs
shipped with sclib (``sclib.lab.shipped``: their masks and stored choices, shown with no
cache and no training), and always the toy model of ``00_quickstart``, trained on first
use in seconds. One of them at a time is
the *subject*; for it, the plain methods compute accuracy on both "+/-" test sets under
each view (``accuracies``, ``scores``, ``table``), where the subnetwork lives
(``layer_stats``, ``layer_mask``) and example problems with the model's choice
(``examples``). Every result is computed once and kept. Nothing here draws:
``sclib.lab.drawing`` renders these results and ``sclib.lab.widget.Explorer`` wires
them to ipywidgets.

>>> subnetworks = Subnetworks(runs=pd.DataFrame(), toy=ToyConfig(n_train=200, epochs=2,
...                           n_mask=200, mask_epochs=1), n_test=50)
>>> subnetworks.choices[["task", "architecture", "subroutine"]].values.tolist()
[['toy', 'toy_mlp', 'left'], ['toy', 'toy_mlp', 'right']]
>>> sorted(subnetworks.accuracies("zero"))  # the toy is trained on first use
['pm:left', 'pm:right']
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch

from sclib.ablation import ABLATION_MODES, ablated
from sclib.experiments.cache import Cache
from sclib.experiments.collect import cached_choices
from sclib.experiments.profile_settings import PROFILES
from sclib.lab.shipped import SHIPPED_DIR, shipped_choices, shipped_subject
from sclib.lab.subjects import (
    CHOICE_COLUMNS,
    RUN_COLUMNS,
    Subject,
    cached_subject,
    choice_table,
    run_label,
    short_layer,
    toy_subject,
)
from sclib.lab.toy import ToyConfig, ToyRun, train_toy
from sclib.stats.scores import ablation_score, subnetwork_score
from sclib.train import predict

MODES = ("none", *ABLATION_MODES)  # what the ablation dropdown offers; "none" = full model
VIEWS = ("subnetwork", *MODES)  # what ``accuracies`` accepts: the subnetwork alone, too
MODE_LABELS = {
    "none": "full model",
    "subnetwork": "subnetwork alone",
    "zero": "subnetwork zeroed",
    "random_reinit": "subnetwork re-drawn at random",
    "randomly_sampled": "as many random weights zeroed (control)",
    "complement_sampled": "as many weights zeroed outside it (control)",
}


def _check_arguments(runs, cache, toy, n_test, n_examples, profile, shipped) -> None:
    """Every argument of ``Subnetworks``, checked before anything is read or trained."""
    if shipped is not None and not isinstance(shipped, bool | str | Path):
        raise ValueError(
            f"shipped must be None (automatic), True, False or a folder, not {shipped!r}"
        )
    if isinstance(shipped, str | Path) and not Path(shipped).is_dir():
        raise ValueError(f"shipped folder {str(shipped)!r} does not exist (default: {SHIPPED_DIR})")
    if runs is not None and not isinstance(runs, pd.DataFrame):
        raise ValueError(f"runs must be a DataFrame of run rows or None, not {type(runs).__name__}")
    if cache is not None and not isinstance(cache, Cache):
        raise ValueError(f"cache must be a sclib.experiments.cache.Cache or None, not {cache!r}")
    if toy is not None and not isinstance(toy, (ToyConfig, ToyRun)):
        raise ValueError(f"toy must be a ToyConfig, a ToyRun or None, not {type(toy).__name__}")
    for name, value, low in (("n_test", n_test, 1), ("n_examples", n_examples, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, not {value!r}")
    valid = sorted({name for _, name in PROFILES})
    if profile is not None and profile not in valid:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(valid)} or None")


class Subnetworks:
    """The subnetworks to choose from, the one chosen, and what it does under each view.

    Args:
        runs: the cached runs to choose from (``cached_choices``); None reads them from
            ``cache``. Any frame with the columns of ``cached_runs()`` works.
        cache: where runs are read from (default ``data/cache``); no model is ever trained
            or stored there: a run whose model is missing is reported, not recomputed.
        toy: the toy fallback, always offered (task ``toy``): a ``ToyConfig`` trained on
            first use, or a trained ``ToyRun``.
        n_test: problems per "+/-" test set (the first ``n_test`` of the run's test sets).
        n_examples: example problems shown per "+/-" set.
        profile: offer only cached runs of this profile (``"quick"``, ``"full"``); None: all.
        shipped: the runs shipped with sclib (``sclib.lab.shipped``: ``sclib/lab/runs``),
            shown at once with no cache: None offers them when ``runs`` is None (read from
            the cache), True always, False never; or a folder of shipped runs.
    """

    def __init__(
        self,
        runs: pd.DataFrame | None = None,
        cache: Cache | None = None,
        toy: ToyConfig | ToyRun | None = None,
        n_test: int = 200,
        n_examples: int = 2,
        profile: str | None = None,
        shipped: bool | str | Path | None = None,
    ) -> None:
        _check_arguments(runs, cache, toy, n_test, n_examples, profile, shipped)
        self.cache = cache if cache is not None else Cache()
        if shipped is None:
            shipped = runs is None
        folder = SHIPPED_DIR if shipped is True else shipped or None
        ships = shipped_choices(folder) if folder is not None else pd.DataFrame()
        if runs is None:
            runs = cached_choices(self.cache)
        if profile is not None and len(runs):
            runs = runs[runs["profile"] == profile]
        if profile is not None and len(ships):
            ships = ships[ships["profile"] == profile]
        self.n_cached = len(runs)
        self.choices = choice_table(runs, ships)
        self.toy = toy if toy is not None else ToyConfig()
        self._toy_trained_here = not isinstance(self.toy, ToyRun)
        self.n_test, self.n_examples = n_test, n_examples
        self.index: int | None = None  # the row of ``choices`` that is the subject
        self.messages: list[str] = []  # why a choice could not be shown
        self._subjects: dict[int, Subject] = {}

    @classmethod
    def from_toy(cls, run: ToyRun, **kwargs: Any) -> Self:
        """Only the subnetworks of a trained toy run (no cached runs offered)."""
        return cls(runs=pd.DataFrame(), cache=Cache(None), toy=run, shipped=False, **kwargs)

    # -- choosing -----------------------------------------------------------------------

    def options(self, column: str, **chosen: Any) -> list[Any]:
        """The values of ``column`` among the choices that match ``chosen``, in order.

        >>> Subnetworks(runs=pd.DataFrame()).options("subroutine", task="toy")
        ['left', 'right']
        """
        table = self.matching(**chosen)
        return list(dict.fromkeys(table[column].tolist()))

    def matching(self, **chosen: Any) -> pd.DataFrame:
        """The rows of ``choices`` whose columns have the ``chosen`` values."""
        unknown = set(chosen) - set(self.choices.columns)
        if unknown:
            valid = ", ".join([*CHOICE_COLUMNS, *RUN_COLUMNS])
            raise ValueError(f"cannot choose by {sorted(unknown)}; choose by: {valid}")
        table = self.choices
        for column, value in chosen.items():
            table = table[table[column] == value]
        return table

    def choose(self, **chosen: Any) -> int:
        """The index (row of ``choices``) of the first choice matching ``chosen``.

        >>> Subnetworks(runs=pd.DataFrame()).choose(task="toy", subroutine="right")
        1
        """
        table = self.matching(**chosen)
        if table.empty:
            # say which value of which column has no match, given the ones before it
            ok: dict[str, Any] = {}
            for column, value in chosen.items():
                valid = self.options(column, **ok)
                if value not in valid:
                    raise ValueError(
                        f"no choice with {column}={value!r} (given {ok or 'nothing'}); "
                        f"choose one of: {', '.join(map(str, valid))}"
                    )
                ok[column] = value
        return int(table.index[0])

    def select(self, index: int | None = None, **chosen: Any) -> Subject:
        """Make choice ``index`` (or the first matching ``chosen``; with neither, the first
        cached run that loads, else the toy) the subject. Loads it once; raises
        ``LookupError`` when its model is not in the cache (the previous subject stays)."""
        if index is None and not chosen:
            return self._select_default()
        index = self.choose(**chosen) if index is None else int(index)
        if index not in self._subjects:
            self._subjects[index] = self._load(self.choices.loc[index])
        self.index = index
        return self._subjects[index]

    def _select_default(self) -> Subject:
        current = self.choices["source"].isin(["cache", "shipped"])
        current &= self.choices["current"].astype(bool)
        for index in self.choices.index[current]:
            try:
                return self.select(int(index))
            except Exception as err:  # a run that cannot be shown must not stop the class
                self.messages.append(f"run {run_label(self.choices.loc[index])}: {err}")
        return self.select(int(self.choices.index[self.choices["source"] == "toy"][0]))

    @property
    def subject(self) -> Subject:
        """The chosen subnetwork (the default choice is loaded on first use)."""
        if self.index is None:
            return self.select()
        return self._subjects[self.index]

    def _load(self, choice: pd.Series) -> Subject:
        if choice["source"] == "shipped":
            return shipped_subject(choice, self.n_test)
        if choice["source"] != "toy":
            return cached_subject(choice, self.cache, self.n_test)
        if isinstance(self.toy, ToyConfig):
            self.toy = train_toy(self.toy)
        how = "trained in this notebook"
        if self._toy_trained_here:
            how = f"trained here in {self.toy.train_time_s:.0f} s"
        runs = self.choices["source"].isin(["cache", "shipped"])
        n_current = int((runs & self.choices["current"]).sum())
        why = "the toy task of 00_quickstart"
        if n_current == 0:
            why = "no cached or shipped runs of the current profiles; `make figures` stores them"
        label = f"toy model, {how} ({why})"
        return toy_subject(self.toy, choice["subroutine"], self.n_test, label)

    # -- computing ----------------------------------------------------------------------

    @contextmanager
    def applied(self, view: str) -> Iterator[None]:
        """The subject's model as ``view`` (one of ``VIEWS``) shows it, restored on exit."""
        masks = self.subject.masks
        if view == "subnetwork":
            yield
        elif view == "none":
            with masks.disabled():
                yield
        elif view in ABLATION_MODES:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with ablated(masks, view, seed=self.subject.seed):
                    yield
            if caught:
                self.subject.notes[view] = str(caught[0].message)
        else:
            raise ValueError(f"unknown view {view!r}; choose one of: {', '.join(VIEWS)}")

    def predictions(self, mode: str = "none") -> dict[str, torch.Tensor]:
        """The position each problem's odd item is guessed at, per "+/-" set, under ``mode``
        (one of ``VIEWS``); computed once per subject and mode."""
        subject = self.subject
        if mode not in subject.predictions:
            try:
                with self.applied(mode):
                    subject.predictions[mode] = {
                        name: predict(subject.model, ds) for name, ds in subject.tests.items()
                    }
            except ValueError as error:  # complement_sampled where a layer keeps over half
                if mode != "complement_sampled":
                    raise
                subject.notes[mode] = str(error)
                subject.predictions[mode] = {name: None for name in subject.tests}
        return subject.predictions[mode]

    def accuracies(self, mode: str = "none") -> dict[str, float]:
        """Accuracy on both "+/-" sets under ``mode``: ``{"pm:<target>": .., "pm:<other>": ..}``.

        ``mode``: ``"none"`` (the full model), ``"subnetwork"`` (the subnetwork alone) or an
        ablation mode of ``sclib.ablation.ablated``.
        """
        tests = self.subject.tests
        return {
            name: float("nan")  # the ablation could not run: subject.notes says why
            if pred is None
            else int((pred == tests[name].odd_index).sum()) / max(1, len(pred))
            for name, pred in self.predictions(mode).items()
        }

    def scores(self, mode: str = "zero") -> dict[str, float]:
        """``subnetwork_score`` and the ``ablation_score`` of ``mode`` (``sclib.stats.scores``)."""
        target, other = self.accuracies("subnetwork").values()
        abl_target, abl_other = self.accuracies(mode).values()
        return {
            "subnetwork_score": float(subnetwork_score(target, other)),
            "ablation_score": float(ablation_score(abl_target, abl_other)),
        }

    def table(self, modes: tuple[str, ...] = VIEWS) -> pd.DataFrame:
        """Accuracies on both "+/-" sets (columns) under every view (rows), with the score
        (target minus other, floored at chance) of each."""
        rows = {MODE_LABELS[m] + (f" [{m}]" if m in ABLATION_MODES else ""): m for m in modes}
        table = pd.DataFrame({label: self.accuracies(m) for label, m in rows.items()}).T
        target, other = table.columns
        table["score"] = ablation_score(table[target], table[other])
        return table

    def layer_stats(self) -> pd.DataFrame:
        """``masks.stats()`` of the subject (one row per masked layer: size, kept count,
        kept fraction), with a ``short`` layer name and each layer's ``share`` of the
        whole subnetwork."""
        stats = self.subject.masks.stats()
        stats.insert(1, "short", stats["layer"].map(short_layer))
        stats["share"] = stats["kept"] / max(1, stats["kept"].sum())
        return stats

    def layer_name(self, layer: str | None = None) -> str:
        """The full name of ``layer`` (full or short name; None: the most kept weights)."""
        kept = self.subject.masks.kept()
        if layer is None:
            return max(kept, key=lambda name: int(kept[name].sum()))
        names = {short_layer(name): name for name in kept}
        if layer not in kept and layer not in names:
            raise ValueError(f"unknown layer {layer!r}; choose one of: {', '.join(names)}")
        return layer if layer in kept else names[layer]

    def layer_mask(self, layer: str | None = None) -> np.ndarray:
        """The subnetwork in one layer (default: the one with most kept weights) as a 2-D
        boolean array: output units x inputs (a conv kernel's inputs and taps flattened)."""
        k = self.subject.masks.kept()[self.layer_name(layer)].cpu().numpy()
        return k.reshape(1, -1) if k.ndim == 1 else k.reshape(k.shape[0], -1)

    def examples(self, mode: str = "none", n: int | None = None) -> pd.DataFrame:
        """The first ``n`` problems of each "+/-" set with the model's choice under ``mode``:
        columns ``set``, ``problem``, ``odd``, ``choice``, ``correct``, ``breaks``."""
        n = self.n_examples if n is None else n
        rows = []
        for name, pred in self.predictions(mode).items():
            ds = self.subject.tests[name]
            for i in range(min(n, len(ds))):
                _, odd, meta = ds[i]
                choice = int(pred[i])
                rows.append(
                    {"set": name, "problem": i, "odd": odd, "choice": choice,
                     "correct": choice == odd, "breaks": ", ".join(meta["breaks"])}
                )  # fmt: skip
        return pd.DataFrame(rows)
