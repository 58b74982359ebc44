"""The words of the tidy tables: column names, regimes, pretraining methods, source labels.

One vocabulary for every table sclib writes or reads (run rows from
``sclib.experiments``, the paper's rows from :mod:`sclib.stats.reference`) and for every
figure's labels. A table's "cell" is always :data:`CELL_COLUMNS`: the columns that name
one measurement apart from its seeds; ``sclib.experiments.profiles.Cell`` is the
dataclass that holds one (with its seeds).

>>> architecture_label("resnet", "quick"), architecture_label("bert_small")
('ResNet (small)', 'BERT-small')
>>> ours_label("quick")
'ours (quick profile)'
>>> Pretraining.SIMCLR == "simclr", Pretraining.SIMCLR.self_supervised
(True, True)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pandas as pd

CHANCE = 0.25  # odd-one-out over 4 items

DOMAINS = ("vision", "language")
REGIMES = ("scratch", "pretrained", "untrained")
TRAINED_REGIMES = ("scratch", "pretrained")  # the paper's Figure 2: trained base models only


class Pretraining(StrEnum):
    """What "pretrained" means for a base model: its weights' origin.

    Our own self-supervised pretraining (SimCLR on the task images, MLM on our template
    corpus), or weights shipped in a package (ImageNet for EfficientNet-Lite0, the
    sentence-embedding model all-MiniLM-L6-v2). Compares equal to its string value, so
    table columns can hold plain strings.
    """

    SIMCLR = "simclr"
    MLM = "mlm"
    IMAGENET = "imagenet"
    MINILM = "minilm"

    @property
    def self_supervised(self) -> bool:
        """True when sclib runs the pretraining itself (a job of its own)."""
        return self in (Pretraining.SIMCLR, Pretraining.MLM)


# the columns that name a cell of a table (apart from domain, regime and pretraining)
CELL_COLUMNS = ("task", "architecture", "subroutine", "variant")
# the columns that name one base model
BASE_COLUMNS = ("task", "architecture", "regime", "variant", "base_seed")

# ablation mode -> the column prefix the paper's results use (rand_ = random re-init)
ABLATION_COLUMNS = {
    "zero": "zero_abl",
    "random_reinit": "rand_abl",
    "randomly_sampled": "sampled_abl",
    "complement_sampled": "complement_abl",
}
# ablation mode -> the column of its ablation score in a run row
SCORE_COLUMNS = {
    "zero": "ablation_score",
    "random_reinit": "random_ablation_score",
    "randomly_sampled": "sampled_ablation_score",
    "complement_sampled": "complement_ablation_score",
}

PAPER_LABEL = "paper (Lepori et al. 2023)"


def ours_label(profile: object | None = None) -> str:
    """The ``source`` label of our runs: ``"ours (<profile> profile)"``, or ``"ours"``.

    Accepts a profile's name or an object with a ``name``; anything else (None, NaN)
    gives plain ``"ours"``.
    """
    name = getattr(profile, "name", profile)
    return f"ours ({name} profile)" if isinstance(name, str) and name else "ours"


# (architecture, model size) -> name; the paper's models are the "full" sizes
ARCHITECTURE_LABELS: dict[Any, str] = {
    ("resnet", "quick"): "ResNet (small)",
    ("resnet", "full"): "ResNet50",
    ("wide_resnet", "quick"): "WideResNet (small)",
    ("wide_resnet", "full"): "WideResNet50",
    "vit": "ViT",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "bert_small": "BERT-small",
    "minilm": "MiniLM",
}


TASK_LABELS = {
    "inside_contact": "Inside-Contact",
    "inside_number": "Inside-Number",
    "number_contact": "Number-Contact",
    "sv_agreement": "SV-Agreement",
    "anaphora": "Anaphora",
}


# pretraining method -> its short name (the paper's runs in figure 02, groups in figure 04)
PRETRAINING_LABELS: dict[str, str] = {Pretraining.SIMCLR: "SimCLR", Pretraining.MLM: "MLM"}


# what "pretrained" means, by source (figure 03); the paper calls its BERT-small "LM-pretrained"
PRETRAINING_NAMES: dict[str, dict[str, str]] = {
    "ours": {
        **PRETRAINING_LABELS,
        Pretraining.MINILM: "MiniLM weights",
        Pretraining.IMAGENET: "ImageNet",
    },
    "paper": {**PRETRAINING_LABELS, Pretraining.MLM: "LM"},
}


def architecture_label(architecture: str, size: str = "full") -> str:
    """The name of an architecture at a model size (``"quick"`` or ``"full"``)."""
    return ARCHITECTURE_LABELS.get(
        (architecture, size), ARCHITECTURE_LABELS.get(architecture, architecture)
    )


def as_bool(values: pd.Series) -> pd.Series:
    """A boolean column read back from memory or CSV (``"True"``/``"False"``, blanks)."""
    if values.dtype == bool:
        return values
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
