"""Statistics over tidy tables of runs: scores, the paper's GLM, grading, overlap, the paper's runs.

Modules here take DataFrames and arrays and return numbers; they never train, never read
the cache and never import ``sclib.experiments``, ``sclib.train`` or ``sclib.pretrain``.
Nothing is re-exported here: import from the module that defines a name.
"""
