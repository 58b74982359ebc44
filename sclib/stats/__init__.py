"""Statistics over tidy tables of runs: tables in, numbers out. Modules, in reading order:

- ``vocabulary``: the words of every table (columns, regimes, CHANCE, the source labels);
- ``scores``: ``subnetwork_score`` and ``ablation_score``, accuracies floored at chance;
- ``cluster``: least squares with clustered errors; t(G-1), z and wild-bootstrap references;
- ``glm``: the GLM tests, clustered by base model, ours and the paper's own (notebook 03);
- ``reliability``: those tests cell by cell, and the fraction of cells significant (notebook 03);
- ``grading``: a decomposition grade per run, bootstrap intervals, the gap to ideal (notebook 04);
- ``overlap``: where subnetworks live and how two masks overlap, per layer and region (notebook 04);
- ``reference``: the paper's published runs, in our vocabulary (notebooks 02 to 04).

Modules here take DataFrames and arrays and return numbers; they never train, never read
the cache and never import ``sclib.experiments``, ``sclib.train`` or ``sclib.pretrain``.
Nothing is re-exported here: import from the module that defines a name.
"""
