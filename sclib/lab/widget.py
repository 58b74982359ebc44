"""The explorer widget of ``notebooks/05_explorer.ipynb``: pick a subnetwork, ablate it.

:class:`Explorer` is a ``sclib.lab.explorer.Subnetworks`` (what is computed) with its
pictures (``sclib.lab.drawing``) and ipywidgets pickers wired to them: a task, an
architecture, a regime, a subroutine and a run, an ablation mode and a layer. Each
widget carries the CSS class ``sclib-<name>`` (the browser test finds them by it).

>>> explorer = Explorer(runs=pd.DataFrame(), toy=ToyConfig(n_train=200, epochs=2,
...                     n_mask=200, mask_epochs=1), n_test=50)
>>> box = explorer.widget()  # trains the toy, the only choice here
>>> explorer.controls["task"].value, explorer.controls["mode"].value
('toy', 'none')
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import pandas as pd

from sclib.ablation import ABLATION_MODES
from sclib.experiments.cache import Cache
from sclib.lab import drawing
from sclib.lab.explorer import MODE_LABELS, MODES, Subnetworks
from sclib.lab.subjects import CHOICE_COLUMNS, Subject, run_label
from sclib.lab.toy import ToyConfig, ToyRun


class Explorer(Subnetworks):
    """Pick a trained subnetwork, ablate it and watch both "+/-" accuracies.

    The arguments are those of ``Subnetworks``: ``runs`` (None: the cached runs),
    ``cache``, ``toy`` (the fallback, always offered), ``n_test`` problems per "+/-" set,
    ``n_examples`` shown per set, ``profile`` (offer only runs of it) and ``shipped``
    (the runs shipped with sclib, ``sclib/lab/runs``).
    ``widget()`` builds the widgets (kept in ``controls``); ``display()`` shows them.
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
        super().__init__(runs, cache, toy, n_test, n_examples, profile, shipped)
        self.controls: dict[str, Any] = {}  # the widgets, once ``widget()`` built them
        self._updating = False  # the pickers are being set by code, not by a user

    # -- drawing (sclib.lab.drawing) ----------------------------------------------------

    def layer_figure(self) -> Any:
        """A bar chart: kept fraction of every masked layer (matplotlib Figure)."""
        return drawing.layer_figure(self.layer_stats(), self.subject.subroutine)

    def mask_figure(self, layer: str | None = None) -> Any:
        """A picture of one layer's mask: dark = weight in the subnetwork (Figure)."""
        name = self.layer_name(layer)
        conv = self.subject.masks.kept()[name].dim() > 2
        return drawing.mask_figure(self.layer_mask(name), name, conv)

    def examples_figure(self, mode: str = "none") -> Any:
        """Vision: example problems, the odd image framed red, the model's pick dashed blue."""
        return drawing.examples_figure(self.examples(mode), self.subject.tests)

    def examples_html(self, mode: str = "none") -> str:
        """Language and toy: example problems as HTML (sentences; toy vectors summarised by
        which property each item has)."""
        return drawing.examples_html(self.examples(mode), self.subject)

    def accuracy_html(self, mode: str = "none") -> str:
        """The accuracy panel: full model, subnetwork alone and ``mode`` on both sets."""
        views = ["none", "subnetwork"] + ([mode] if mode != "none" else [])
        accuracies = {view: self.accuracies(view) for view in views}
        score = self.scores(mode)["ablation_score"] if mode in ABLATION_MODES else None
        note = self.subject.notes.get(mode) if mode in ABLATION_MODES else None
        return drawing.accuracy_html(accuracies, mode, self.subject.masks, score, note)

    # -- widgets ------------------------------------------------------------------------

    def widget(self) -> Any:
        """The explorer as an ipywidgets VBox (its parts in ``self.controls``)."""
        import ipywidgets as w

        subject = self.subject  # loads the default choice
        c = self.controls = _controls()
        self._set_pickers(self.choices.loc[self.index])

        def on_pick(change: dict) -> None:
            if not self._updating:
                self._pick(change["owner"].description)

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
            table = self.matching(**chosen)
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
            why = html.escape(str(err))
            c["status"].value = f"<b style='color:#c00'>cannot show this run:</b> {why}"
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
        c["layers_image"].value = drawing.png(self.layer_figure())
        self._show_layer()
        self._show_mode()

    def _show_layer(self) -> None:
        figure = self.mask_figure(self.controls["layer"].value)
        self.controls["mask_image"].value = drawing.png(figure)

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
                c["examples_image"].value = drawing.png(self.examples_figure(mode))
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


def _controls() -> dict[str, Any]:
    """The explorer's widgets by name, each with the CSS class ``sclib-<name>``."""
    import ipywidgets as w

    c: dict[str, Any] = {}
    for column in CHOICE_COLUMNS:
        c[column] = w.Dropdown(description=column, layout=w.Layout(width="240px"))
    c["run"] = w.Dropdown(description="run", layout=w.Layout(width="420px"))
    c["mode"] = w.Dropdown(options=MODES, value="none", description="ablation")
    c["layer"] = w.Dropdown(description="layer", layout=w.Layout(width="320px"))
    for name in ("source", "status", "accuracy", "examples"):
        c[name] = w.HTML()
    for name in ("examples_image", "layers_image", "mask_image"):
        c[name] = w.Image(format="png")
    for name, widget in c.items():
        widget.add_class(f"sclib-{name}")
    return c
