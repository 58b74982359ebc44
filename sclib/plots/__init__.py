"""Figures: one palette and theme, the titles that state findings, and a module per figure.

- ``style``: the palette (one colour per concept in every figure: ``COLORS``), the theme
  (``themed``), names, the one legend helper (``legend_handles``, ``legend_below``), panel
  letters and ``save_figure``;
- ``findings``: titles computed from the numbers a figure draws ("hurts its own subroutine
  more", "no selective effect", "too few base models to test");
- figure 00 (notebook 00): ``quickstart``;
- figure 02 (notebook 02): ``modularity``, its tables and the figure;
- figure 03 (notebook 03): ``pretraining`` (its tables) and ``pretraining_figure``;
- figures 04 (notebook 04), one message each: ``decomposition`` (their tables),
  ``decomposition_figure`` (the scores and the grades, and all four with their data) and
  ``decomposition_layers`` (where the masks live: overlap and kept fraction per layer);
  ``sensitivity`` (the lambda ladder).

Modules here take DataFrames and return tables and matplotlib figures; they never train,
never read the cache and never import ``sclib.experiments``, ``sclib.train`` or
``sclib.pretrain``. Nothing is re-exported here: import from the module that defines a name.
"""
