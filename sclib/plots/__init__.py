"""Figures: shared styling and legends, and the modules of each figure.

- ``style``: names (architectures, tasks, pretraining), colours, the one legend helper
  (``legend_handles``, ``legend_below``) and ``save_figure``;
- figure 02 (notebook 02): ``modularity``, its tables and the figure;
- figure 03 (notebook 03): ``pretraining`` (its tables) and ``pretraining_figure``;
- figure 04 (notebook 04): ``decomposition`` (its tables), ``decomposition_figure`` and its
  panels (c) and (d) in ``decomposition_layers``.

Modules here take DataFrames and return tables and matplotlib figures; they never train,
never read the cache and never import ``sclib.experiments``, ``sclib.train`` or
``sclib.pretrain``. Nothing is re-exported here: import from the module that defines a name.
"""
