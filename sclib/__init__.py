"""sclib: structural compositionality, reproducible.

A companion to Lepori, Serre & Pavlick, "Break It Down: Evidence for Structural
Compositionality in Neural Networks" (NeurIPS 2023): weight masks and ablations for any
PyTorch model (``sclib.masks``), compositional odd-one-out tasks (``sclib.tasks``), the
models (``sclib.models``), training (``sclib.train``), experiments, statistics and plots.
"""

__version__ = "0.1.0"
