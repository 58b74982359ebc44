"""Experiments: what a run is, how big, and how it is run, cached and collected.

``profiles`` (cells and the quick/full profiles), ``cache`` (entries on disk keyed by their
configuration), ``runner`` (one cell -> base model (``base_models``) -> mask search (``search``) ->
evaluations -> one tidy row), ``probe`` (which weights carry a run's odd-one-out signal). Nothing is
re-exported here: import from the module that defines a name.
"""
