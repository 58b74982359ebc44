"""Figures: shared styling and legends, and one module per figure.

Modules here take DataFrames and return matplotlib figures; they never train, never read
the cache and never import ``sclib.experiments``, ``sclib.train`` or ``sclib.pretrain``.
Nothing is re-exported here: import from the module that defines a name.
"""
