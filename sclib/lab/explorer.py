"""Explore a subnetwork interactively: ``notebooks/05_explorer.ipynb`` and ``06_exercises``.

:class:`Explorer` picks one trained subnetwork (a task, an architecture, a regime, a
subroutine) from the runs stored in the cache (``make figures`` fills it), or, when
none is stored, from a toy model it trains on the spot in seconds (the toy task of
``00_quickstart``). Its plain methods compute what the widgets show, so they can be
used and tested without a browser: accuracy on both "+/-" test sets under each
ablation mode (``accuracies``), where the subnetwork lives (``layer_stats``,
``layer_mask``) and example problems with the model's choice (``examples``).
``widget()`` wires them to ipywidgets; every result is computed once and kept.

>>> explorer = Explorer(runs=pd.DataFrame(), toy=ToyConfig(n_train=200, epochs=2,
...                     n_mask=200, mask_epochs=1), n_test=50)
>>> explorer.choices[["task", "architecture", "subroutine"]].values.tolist()
[['toy', 'toy_mlp', 'left'], ['toy', 'toy_mlp', 'right']]
>>> sorted(explorer.accuracies("zero"))  # the toy is trained on first use
['pm:left', 'pm:right']
"""

from __future__ import annotations

import dataclasses
import html
import io
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from sclib.experiments.cache import Cache
from sclib.experiments.collect import ReadOnlyCache, cached_choices, load_cell
from sclib.experiments.runner import (
    Cell,
    Profile,
    get_profile,
    task_for,
)
from sclib.lab.toy import (  # noqa: F401  (re-exported: the notebooks import them from here)
    LEVELS,
    ToyConfig,
    ToyRun,
    _one_thread,
    accuracy_level,
    check_prediction,
    train_toy,
    train_toy_mask,
)
from sclib.masks import ABLATION_MODES, MaskSet, ablated
from sclib.stats.scores import CHANCE, ablation_score, subnetwork_score
from sclib.tasks.base import ProblemSet, Task
from sclib.train import predict

MODES = ("none", *ABLATION_MODES)  # what the ablation dropdown offers; "none" = full model
VIEWS = ("subnetwork", *MODES)  # what ``accuracies`` accepts: the subnetwork alone, too
CHOICE_COLUMNS = ("task", "architecture", "regime", "subroutine")
RUN_COLUMNS = ("variant", "base_seed", "mask_seed", "profile")
TOY_ARCHITECTURE = "toy_mlp"
MODE_LABELS = {
    "none": "full model",
    "subnetwork": "subnetwork alone",
    "zero": "subnetwork zeroed",
    "random_reinit": "subnetwork re-drawn at random",
    "randomly_sampled": "as many random weights zeroed (control)",
    "complement_sampled": "as many weights zeroed outside it (control)",
}


# ------------------------------------------------------------------------ the toy fallback: sclib.lab.toy


def lambda_sweep(
    run: ToyRun, subroutine: str, lambdas: Sequence[float], n_test: int = 500
) -> pd.DataFrame:
    """A new mask for ``subroutine`` per sparsity pressure ``lambdas`` on the run's base
    model: kept fraction, accuracies of the subnetwork and of the zero-ablated model on
    both "+/-" sets, and both scores; one row per lambda (``06_exercises``)."""
    rows = []
    for lam in lambdas:
        masks = train_toy_mask(run, subroutine, lam)
        explorer = Explorer.from_toy(replace(run, masks={subroutine: masks}), n_test=n_test)
        explorer.select(subroutine=subroutine)
        rows.append(
            {
                "l0_lambda": lam,
                "kept_fraction": masks.kept_fraction(),
                **{f"subnetwork {k}": v for k, v in explorer.accuracies("subnetwork").items()},
                **{f"zero-ablated {k}": v for k, v in explorer.accuracies("zero").items()},
                **explorer.scores("zero"),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ cached runs


def _choices(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per selectable subnetwork: the cached runs first, then the toy's."""
    cols = [*CHOICE_COLUMNS, *RUN_COLUMNS, "domain", "source", "current", "profile_config"]
    table = None
    if len(runs):
        table = runs.reindex(columns=[*cols, "run_id"]).assign(source="cache")
        table["domain"] = table["domain"].fillna("vision")
        table["current"] = runs.get("current", pd.Series(True, index=runs.index)).astype(bool)
        excluded = runs.get("excluded", pd.Series(False, index=runs.index)).astype(bool)
        # the default choice is the first row: current profiles, usable base models, vision
        rank = 4 * ~table["current"] + 2 * excluded + (table["domain"] != "vision")
        table = table.assign(_rank=rank).sort_values(["_rank", *CHOICE_COLUMNS, *RUN_COLUMNS])
        table = table.drop(columns="_rank")
    toy_rows = pd.DataFrame(
        [
            {
                "task": "toy",
                "architecture": TOY_ARCHITECTURE,
                "regime": "scratch",
                "subroutine": sub,
                "variant": "none",
                "base_seed": 0,
                "mask_seed": 0,
                "profile": "toy",
                "domain": "toy",
                "source": "toy",
                "current": True,
            }
            for sub in ("left", "right")
        ],
        columns=cols,
    )
    return pd.concat([table, toy_rows] if table is not None else [toy_rows], ignore_index=True)


def run_label(choice: pd.Series | dict) -> str:
    """A short label for the run axes: profile, seeds and (language) number variant.

    >>> run_label({"profile": "quick", "base_seed": 0, "mask_seed": 1, "variant": "none"})
    'quick profile, base seed 0, mask seed 1'
    """
    text = f"{choice['profile']} profile, base seed {int(choice['base_seed'])}, mask seed "
    text += str(int(choice["mask_seed"]))
    text += f", {choice['variant']}" if choice["variant"] not in ("none", None) else ""
    return text + ("" if bool(choice.get("current", True)) else ", older profile definition")


# ------------------------------------------------------------------------ what is shown


@dataclass
class Subject:
    """One subnetwork on screen: the model, its mask, the task and the two "+/-" sets.

    ``tests`` maps ``"pm:<target>"`` then ``"pm:<other>"`` to their problems.
    """

    label: str
    domain: str
    task: Task
    subroutine: str
    other: str
    model: nn.Module
    masks: MaskSet
    tests: dict[str, ProblemSet]
    seed: int = 0
    row: dict[str, Any] | None = None
    predictions: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _short(layer: str) -> str:
    """``embedder.fc1.weight`` -> ``fc1``."""
    return layer.removeprefix("embedder.").removesuffix(".weight")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def as_image(fig: Any) -> Any:
    """A Figure of the explorer as an IPython ``Image``: it shows in a notebook cell (the
    explorer draws without pyplot, so that widgets never show a figure twice)."""
    from IPython.display import Image

    return Image(_png(fig))


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # no pyplot: nothing is drawn twice in a notebook

    return Figure(figsize=(width, height), layout="constrained")


class Explorer:
    """Pick a trained subnetwork, ablate it and watch both "+/-" accuracies (module docstring).

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
    """

    def __init__(
        self,
        runs: pd.DataFrame | None = None,
        cache: Cache | None = None,
        toy: ToyConfig | ToyRun | None = None,
        n_test: int = 200,
        n_examples: int = 2,
        profile: str | None = None,
    ) -> None:
        self.cache = cache if cache is not None else Cache()
        if runs is None:
            runs = cached_choices(self.cache)
        if profile is not None and len(runs):
            runs = runs[runs["profile"] == profile]
        self.n_cached = len(runs)
        self.choices = _choices(runs)
        self.toy = toy if toy is not None else ToyConfig()
        self._toy_trained_here = not isinstance(self.toy, ToyRun)
        self.n_test, self.n_examples = n_test, n_examples
        self.index: int | None = None  # the row of ``choices`` on screen
        self.messages: list[str] = []  # why a choice could not be shown
        self._subjects: dict[int, Subject] = {}
        self.controls: dict[str, Any] = {}  # the widgets, once ``widget()`` built them
        self._updating = False  # the pickers are being set by code, not by a user

    @classmethod
    def from_toy(cls, run: ToyRun, **kwargs: Any) -> Explorer:
        """An explorer of a trained toy run only (no cached runs offered)."""
        return cls(runs=pd.DataFrame(), cache=Cache(None), toy=run, **kwargs)

    # -- choosing -----------------------------------------------------------------------

    def options(self, column: str, **chosen: Any) -> list[Any]:
        """The values of ``column`` among the choices that match ``chosen``, in order.

        >>> Explorer(runs=pd.DataFrame()).options("subroutine", task="toy")
        ['left', 'right']
        """
        table = self._matching(**chosen)
        return list(dict.fromkeys(table[column].tolist()))

    def _matching(self, **chosen: Any) -> pd.DataFrame:
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

        >>> Explorer(runs=pd.DataFrame()).choose(task="toy", subroutine="right")
        1
        """
        table = self._matching(**chosen)
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
        """Show choice ``index`` (or the first matching ``chosen``; with neither, the first
        cached run that loads, else the toy). Loads it once; raises ``LookupError`` when its
        model is not in the cache (the previous subject stays on)."""
        if index is None and not chosen:
            return self._select_default()
        index = self.choose(**chosen) if index is None else int(index)
        if index not in self._subjects:
            self._subjects[index] = self._load(self.choices.loc[index])
        self.index = index
        return self._subjects[index]

    def _select_default(self) -> Subject:
        current = (self.choices["source"] == "cache") & self.choices["current"].astype(bool)
        for index in self.choices.index[current]:
            try:
                return self.select(int(index))
            except Exception as err:  # a run that cannot be shown must not stop the class
                self.messages.append(f"run {run_label(self.choices.loc[index])}: {err}")
        return self.select(int(self.choices.index[self.choices["source"] == "toy"][0]))

    @property
    def subject(self) -> Subject:
        """What is on screen (the default choice is loaded on first use)."""
        if self.index is None:
            return self.select()
        return self._subjects[self.index]

    def _load(self, choice: pd.Series) -> Subject:
        if choice["source"] == "toy":
            return self._load_toy(choice["subroutine"])
        return self._load_cached(choice)

    def _load_toy(self, subroutine: str) -> Subject:
        if isinstance(self.toy, ToyConfig):
            self.toy = train_toy(self.toy)
        run = self.toy
        other = run.task.other(subroutine)
        how = "trained in this notebook"
        if self._toy_trained_here:
            how = f"trained here in {run.train_time_s:.0f} s"
        n_current = int(((self.choices["source"] == "cache") & self.choices["current"]).sum())
        why = "the toy task of 00_quickstart"
        if n_current == 0:
            why = "no cached runs of the current profiles; `make figures` stores them"
        return Subject(
            label=f"toy model, {how} ({why})",
            domain="toy",
            task=run.task,
            subroutine=subroutine,
            other=other,
            model=run.masks[subroutine].model,
            masks=run.masks[subroutine],
            tests={
                f"pm:{s}": run.task.dataset(f"pm:{s}", "test", self.n_test)
                for s in (subroutine, other)
            },
            seed=run.config.seed,
        )

    def _load_cached(self, choice: pd.Series) -> Subject:
        cell = Cell(
            **{
                f.name: int(choice[f.name]) if f.type == "int" else str(choice[f.name])
                for f in dataclasses.fields(Cell)
            }
        )
        profile = choice.get("profile_config")
        if not isinstance(profile, Profile):
            profile = get_profile(str(choice["domain"]), str(choice["profile"]))
        model, masks, row = load_cell(cell, profile, ReadOnlyCache(self.cache.root))
        task = task_for(cell, profile)
        other = task.other(cell.subroutine)
        tests = {
            f"pm:{s}": task.dataset(f"pm:{s}", "test", profile.n_test).subset(self.n_test)
            for s in (cell.subroutine, other)
        }
        where = self.cache.root / "runs" if self.cache.root is not None else "the cache"
        label = (
            f"cached run from {where} ({run_label(choice)}; computed on "
            f"{row.get('device', '?')}, git {row.get('git_rev', '?')})"
        )
        return Subject(
            label, profile.domain, task, cell.subroutine, other, model, masks, tests,
            seed=cell.mask_seed, row=row,
        )  # fmt: skip

    # -- computing ----------------------------------------------------------------------

    @contextmanager
    def _applied(self, mode: str) -> Iterator[None]:
        """The subject's model as ``mode`` shows it, restored on exit."""
        masks = self.subject.masks
        if mode == "subnetwork":
            yield
        elif mode == "none":
            with masks.disabled():
                yield
        elif mode in ABLATION_MODES:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with ablated(masks, mode, seed=self.subject.seed):
                    yield
            if caught:
                self.subject.notes[mode] = str(caught[0].message)
        else:
            raise ValueError(f"unknown view {mode!r}; choose one of: {', '.join(VIEWS)}")

    def predictions(self, mode: str = "none") -> dict[str, torch.Tensor]:
        """The position each problem's odd item is guessed at, per "+/-" set, under ``mode``
        (one of ``VIEWS``); computed once per subject and mode."""
        subject = self.subject
        if mode not in subject.predictions:
            with self._applied(mode):
                subject.predictions[mode] = {
                    name: predict(subject.model, ds) for name, ds in subject.tests.items()
                }
        return subject.predictions[mode]

    def accuracies(self, mode: str = "none") -> dict[str, float]:
        """Accuracy on both "+/-" sets under ``mode``: ``{"pm:<target>": .., "pm:<other>": ..}``.

        ``mode``: ``"none"`` (the full model), ``"subnetwork"`` (the subnetwork alone) or an
        ablation mode of ``sclib.masks.ablated``.
        """
        tests = self.subject.tests
        return {
            name: int((pred == tests[name].odd_index).sum()) / max(1, len(pred))
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
        stats.insert(1, "short", stats["layer"].map(_short))
        stats["share"] = stats["kept"] / max(1, stats["kept"].sum())
        return stats

    def _layer(self, layer: str | None) -> str:
        """The full name of ``layer`` (full or short name; None: the most kept weights)."""
        kept = self.subject.masks.kept()
        if layer is None:
            return max(kept, key=lambda name: int(kept[name].sum()))
        names = {_short(name): name for name in kept}
        if layer not in kept and layer not in names:
            raise ValueError(f"unknown layer {layer!r}; choose one of: {', '.join(names)}")
        return layer if layer in kept else names[layer]

    def layer_mask(self, layer: str | None = None) -> np.ndarray:
        """The subnetwork in one layer (default: the one with most kept weights) as a 2-D
        boolean array: output units x inputs (a conv kernel's inputs and taps flattened)."""
        k = self.subject.masks.kept()[self._layer(layer)].cpu().numpy()
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

    # -- drawing ------------------------------------------------------------------------

    def layer_figure(self) -> Any:
        """A bar chart: kept fraction of every masked layer (matplotlib Figure)."""
        stats = self.layer_stats()
        fig = _figure(4.6, 0.9 + 0.22 * len(stats))
        ax = fig.subplots()
        y = np.arange(len(stats))[::-1]
        ax.barh(y, stats["fraction"], color="tab:blue")
        ax.set_yticks(y, stats["short"], fontsize=7)
        for yi, (frac, kept) in zip(y, stats[["fraction", "kept"]].values, strict=True):
            ax.text(frac, yi, f" {frac:.1%} ({int(kept)})", va="center", fontsize=6)
        ax.set_xlim(0, min(1.3, max(0.05, float(stats["fraction"].max()) * 1.35)))
        ax.set_xlabel("kept fraction of the layer's weights")
        ax.set_title(f"where the {self.subject.subroutine} subnetwork lives", fontsize=9)
        return fig

    def mask_figure(self, layer: str | None = None) -> Any:
        """A picture of one layer's mask: dark = weight in the subnetwork (Figure)."""
        layer = self._layer(layer)
        image = self.layer_mask(layer)
        fig = _figure(4.6, 3.2)
        ax = fig.subplots()
        ax.imshow(image, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        conv = self.subject.masks.kept()[layer].dim() > 2
        ax.set_xlabel("input channel x kernel tap" if conv else "input")
        ax.set_ylabel("output unit")
        ax.set_title(
            f"{_short(layer)}: {image.mean():.1%} of {image.size} weights kept", fontsize=9
        )
        return fig

    def examples_figure(self, mode: str = "none") -> Any:
        """Vision: example problems, the odd image framed red, the model's pick dashed blue."""
        from matplotlib.patches import Rectangle

        from sclib.tasks.vision import draw_problem

        table = self.examples(mode)
        fig = _figure(4.6, 1.25 * len(table) + 0.2)
        for ax, row in zip(
            fig.subplots(len(table), 1, squeeze=False)[:, 0], table.itertuples(), strict=True
        ):
            items, odd, _ = self.subject.tests[row.set][row.problem]
            mark = "correct" if row.correct else "WRONG"
            draw_problem(ax, items, odd, f"{row.set}: odd breaks {row.breaks}; model {mark}")
            h, w = items.shape[-2:]
            ax.add_patch(
                Rectangle((row.choice * (w + 2) - 0.5, -0.5), w, h, fill=False,
                          edgecolor="tab:blue", linestyle="--", linewidth=2)
            )  # fmt: skip
        return fig

    def examples_html(self, mode: str = "none") -> str:
        """Language and toy: example problems as HTML (sentences; toy vectors summarised by
        which property each item has)."""
        subject, parts = self.subject, []
        for row in self.examples(mode).itertuples():
            items, odd, _ = subject.tests[row.set][row.problem]
            verdict = "right" if row.correct else "<b style='color:#c00'>wrong</b>"
            lines = []
            if subject.domain == "toy":
                holds = subject.task.properties(items)
                for j in range(len(items)):
                    has = " ".join(
                        f"{s}:{'yes' if bool(holds[s][j]) else '<u>no</u>'}" for s in holds
                    )
                    lines.append(f"item {j} |x|={float(items[j].norm()):.1f} {has}")
            else:
                lines = [html.escape(str(s)) for s in items]
            for j in range(len(lines)):
                tags = ("odd " if j == odd else "") + ("&#9664; model" if j == row.choice else "")
                lines[j] = f"{lines[j]} <i>{tags}</i>"
            parts.append(
                f"<div><b>{row.set}</b> #{row.problem} (odd breaks {row.breaks}; the model is "
                f"{verdict})<pre style='margin:0 0 6px 0;line-height:1.3'>"
                f"{chr(10).join(lines)}</pre></div>"
            )
        return "".join(parts)

    def accuracy_html(self, mode: str = "none") -> str:
        """The accuracy panel: full model, subnetwork alone and ``mode`` on both sets."""
        views = ["none", "subnetwork"] + ([mode] if mode != "none" else [])
        accs = {v: self.accuracies(v) for v in views}
        sets = list(accs["none"])
        head = "".join(
            f"<th>{s}{' (target)' if i == 0 else ' (other)'}</th>" for i, s in enumerate(sets)
        )
        body = ""
        for v in views:
            style = " style='background:#fff3c4;font-weight:bold'" if v == mode else ""
            cells = "".join(f"<td>{accs[v][s]:.3f}</td>" for s in sets)
            body += f"<tr{style}><td>{MODE_LABELS[v]} [{v}]</td>{cells}</tr>"
        masks = self.subject.masks
        n = sum(int(k.numel()) for k in masks.kept().values())
        lines = [
            f"<table><tr><th></th>{head}</tr>{body}</table>",
            f"subnetwork: {masks.kept_fraction():.1%} of {n:,} masked weights; chance {CHANCE}",
        ]
        if mode in ABLATION_MODES:
            score = self.scores(mode)["ablation_score"]
            lines.append(f"ablation score ({mode}): {score:+.3f} (target minus other)")
            if mode in self.subject.notes:
                lines.append(f"<i>{html.escape(self.subject.notes[mode])}</i>")
        else:
            lines.append("pick an ablation mode to remove the subnetwork from the full model")
        return "<br>".join(lines)

    # -- widgets ------------------------------------------------------------------------

    def widget(self) -> Any:
        """The explorer as an ipywidgets VBox (its parts in ``self.controls``)."""
        import ipywidgets as w

        subject = self.subject  # loads the default choice
        choice = self.choices.loc[self.index]
        c: dict[str, Any] = {}
        for column in CHOICE_COLUMNS:
            c[column] = w.Dropdown(description=column, layout=w.Layout(width="240px"))
        c["run"] = w.Dropdown(description="run", layout=w.Layout(width="420px"))
        c["mode"] = w.Dropdown(options=MODES, value="none", description="ablation")
        c["layer"] = w.Dropdown(description="layer", layout=w.Layout(width="320px"))
        c["source"] = w.HTML()
        c["status"] = w.HTML()
        c["accuracy"] = w.HTML()
        c["examples"] = w.HTML()
        c["examples_image"] = w.Image(format="png")
        c["layers_image"] = w.Image(format="png")
        c["mask_image"] = w.Image(format="png")
        for name, widget in c.items():
            widget.add_class(f"sclib-{name}")
        self.controls = c
        self._set_pickers(choice)

        def on_pick(change: dict) -> None:
            if self._updating:
                return
            level = change["owner"].description
            self._pick(level)

        for column in (*CHOICE_COLUMNS, "run"):
            c[column].observe(on_pick, names="value")
        c["mode"].observe(lambda change: self._show_mode(), names="value")
        c["layer"].observe(lambda change: self._updating or self._show_layer(), names="value")
        self._show_subject(subject)
        pickers = w.HBox([c[k] for k in (*CHOICE_COLUMNS, "run")], layout={"flex_flow": "row wrap"})
        left = w.VBox([c["mode"], c["accuracy"], c["examples"], c["examples_image"]])
        right = w.VBox([c["layers_image"], c["layer"], c["mask_image"]])
        box = w.VBox([pickers, c["source"], c["status"], w.HBox([left, right])])
        box.add_class("sclib-explorer")
        return box

    def display(self) -> None:
        """Show ``widget()`` in the notebook."""
        from IPython.display import display

        display(self.widget())

    def _set_pickers(self, choice: pd.Series) -> None:
        """Set every picker's options and value to ``choice`` (no reload)."""
        c, chosen = self.controls, {}
        self._updating = True
        try:
            for column in CHOICE_COLUMNS:
                c[column].options = self.options(column, **chosen)
                c[column].value = choice[column]
                chosen[column] = choice[column]
            table = self._matching(**chosen)
            labels = [run_label(r) for _, r in table.iterrows()]
            c["run"].options = [
                (label + f" (#{i})" * (labels.count(label) > 1), int(i))
                for label, i in zip(labels, table.index, strict=True)
            ]
            c["run"].value = int(choice.name)
        finally:
            self._updating = False

    def _pick(self, level: str) -> None:
        """A picker changed: keep the choices above it, take the first match below it."""
        c = self.controls
        if level == "run":
            index = int(c["run"].value)
        else:
            upto = CHOICE_COLUMNS[: CHOICE_COLUMNS.index(level) + 1]
            index = self.choose(**{k: c[k].value for k in upto})
        c["status"].value = "<i>loading...</i>"
        previous = self.index
        try:
            subject = self.select(index)
        except Exception as err:  # shown on screen; the previous run stays on
            self.messages.append(str(err))
            c[
                "status"
            ].value = f"<b style='color:#c00'>cannot show this run:</b> {html.escape(str(err))}"
            self.index = previous
            self._set_pickers(self.choices.loc[previous])
            return
        self._set_pickers(self.choices.loc[index])
        self._show_subject(subject)

    def _show_subject(self, subject: Subject) -> None:
        c = self.controls
        c["source"].value = f"<b>Source:</b> {html.escape(subject.label)}"
        stats = self.layer_stats()
        self._updating = True
        try:
            c["layer"].options = [
                (s, name) for s, name in zip(stats["short"], stats["layer"], strict=True)
            ]
            c["layer"].value = stats.loc[stats["kept"].idxmax(), "layer"]
        finally:
            self._updating = False
        c["layers_image"].value = _png(self.layer_figure())
        self._show_layer()
        self._show_mode()

    def _show_layer(self) -> None:
        self.controls["mask_image"].value = _png(self.mask_figure(self.controls["layer"].value))

    def _show_mode(self) -> None:
        c, mode = self.controls, self.controls["mode"].value
        c["status"].value = f"<i>computing {mode}...</i>"
        start = time.perf_counter()
        try:
            c["accuracy"].value = self.accuracy_html(mode)
            if self.subject.domain == "vision":
                c[
                    "examples"
                ].value = "<b>examples</b> (odd image framed red, the model's pick dashed blue)"
                c["examples_image"].value = _png(self.examples_figure(mode))
                c["examples_image"].layout.display = None
            else:
                c["examples"].value = "<b>examples</b><br>" + self.examples_html(mode)
                c["examples_image"].layout.display = "none"
        except Exception as err:  # an observer's error would only reach the log console
            c["status"].value = f"<b style='color:#c00'>failed:</b> {html.escape(repr(err))}"
            raise
        n = len(next(iter(self.subject.tests.values())))
        c["status"].value = (
            f"showing <b>{MODE_LABELS[mode]}</b> [{mode}] on {n} problems per set "
            f"({time.perf_counter() - start:.1f} s)"
        )


__all__ = [
    "MODES",
    "VIEWS",
    "Explorer",
    "Subject",
    "ToyConfig",
    "ToyRun",
    "accuracy_level",
    "as_image",
    "check_prediction",
    "cached_choices",
    "lambda_sweep",
    "run_label",
    "train_toy",
    "train_toy_mask",
]
