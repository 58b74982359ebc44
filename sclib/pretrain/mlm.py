"""Masked-language-model pretraining of a small BERT on our own corpus (arXiv 2301.10884, its models).

The paper compared BERT-small from random init with the MLM-pretrained checkpoint. Here
pretraining is a dose: none (random init), *ours* (``pretrain_mlm`` on ``mlm_corpus``,
grammatical sentences of the two language tasks), or MiniLM's (``build_model("minilm",
pretrained=True)``). The corpus comes from the tasks' own generator (training split
only, so no test sentence is ever seen); masking is BERT's (15% of tokens; of those 80%
[MASK], 10% a random token, 10% unchanged); the LM head (BERT's: dense - GELU - LayerNorm
- decoder, tied to the word embeddings or not) is created, trained and discarded. The
result depends only on the embedder's initial weights, the sentences and the config, so
a runner can cache it under (build seed, corpus parameters, config). Used by
notebooks/03_pretrained_vs_random.ipynb.

>>> mlm_corpus(3, seed=0)  # doctest: +NORMALIZE_WHITESPACE
['the writer that the poets defended tested himself',
 'the athlete that calls the managers helps', 'the guards understand']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sclib.pretrain.loop import cosine_adamw, run_pretraining
from sclib.runtime import resolve_device, seeded, training_mode
from sclib.tasks.language import NUMBERS, SUBROUTINES, LanguageTask
from sclib.train import check_training_args

OUTPUT_VOCABS = ("corpus", "full")


# ----------------------------------------------------------------------------- corpus
def mlm_corpus(n_sentences: int, seed: int = 0) -> list[str]:
    """``n_sentences`` grammatical sentences of both language tasks and both numbers, shuffled.

    A quarter each from (sv_agreement, anaphora) x (singular, plural): the sentences of
    compositional *training* problems whose subject (antecedent) and verb (reflexive)
    agree, i.e. the three regular ones and an odd one that breaks both. Every template
    of each task appears, attractor numbers vary freely, and since splits are decided by
    the lexical skeleton no validation or test sentence (in any number) is included. A
    larger ``n_sentences`` with the same seed extends each quarter (the order changes).
    """
    if not isinstance(n_sentences, int) or n_sentences < 1:
        raise ValueError(f"n_sentences must be a positive int, got {n_sentences!r}")
    parts = [(task, number) for task in SUBROUTINES for number in NUMBERS]
    corpus: list[str] = []
    for k, (name, number) in enumerate(parts):
        quota = n_sentences // len(parts) + (k < n_sentences % len(parts))
        if quota == 0:
            continue
        task = LanguageTask(name, number=number, seed=seed)
        a, b = task.subroutines
        problems = task.dataset("compositional", "train", math.ceil(quota / 3))  # >= 3 each
        grammatical = [
            sentence
            for items, meta in zip(problems.items, problems.meta, strict=True)
            for j, sentence in enumerate(items)
            if meta[a][j] == meta[b][j]
        ]
        corpus.extend(grammatical[:quota])
    order = np.random.default_rng(seed).permutation(len(corpus))
    return [corpus[i] for i in order]


# ----------------------------------------------------------------------------- masking
def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_token_id: int,
    replacement_ids: torch.Tensor,
    generator: torch.Generator,
    mask_prob: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: ``(inputs, labels)`` for a batch of token ids (B, L).

    Each ``maskable`` token (not special, not padding) is chosen with ``mask_prob``; at
    least one per batch. A chosen token becomes [MASK] (80%), a random token of
    ``replacement_ids`` (10%) or stays (10%); its label is its id, every other label -100.

    >>> ids = torch.tensor([[101, 7, 8, 9, 102]])
    >>> maskable = torch.tensor([[False, True, True, True, False]])
    >>> inputs, labels = mask_tokens(ids, maskable, 103, torch.tensor([7, 8, 9]),
    ...                              torch.Generator().manual_seed(0))
    >>> int((labels != -100).sum()) >= 1, bool((labels[~maskable] == -100).all())
    (True, True)
    """
    draw = torch.rand(input_ids.shape, generator=generator)
    chosen = (draw < mask_prob) & maskable
    if not chosen.any() and maskable.any():  # never a batch without a target
        chosen.view(-1)[torch.where(maskable.view(-1), draw.view(-1), 2.0).argmin()] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    kind = torch.rand(input_ids.shape, generator=generator)
    pick = torch.randint(len(replacement_ids), input_ids.shape, generator=generator)
    inputs = torch.where(
        chosen & (kind < 0.8), torch.full_like(input_ids, mask_token_id), input_ids
    )
    random = chosen & (kind >= 0.8) & (kind < 0.9)
    inputs = torch.where(random, replacement_ids[pick], inputs)
    return inputs, labels


class MLMHead(nn.Module):
    """BERT's LM head: ``dense`` - GELU - ``norm`` - decoder to vocabulary logits.

    The decoder is the word-embedding matrix given to ``forward`` (tied) or the head's own
    ``decoder`` weight (``tied=False``); ``bias`` is always the head's.
    """

    def __init__(self, hidden_size: int, vocab_size: int, tied: bool = True, eps: float = 1e-12):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)
        self.decoder = None if tied else nn.Parameter(torch.randn(vocab_size, hidden_size) * 0.02)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(
        self, hidden: torch.Tensor, embeddings: torch.Tensor, vocab_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (M, V) for hidden states (M, H); ``vocab_ids`` restricts V to those tokens."""
        weight = embeddings if self.decoder is None else self.decoder
        bias = self.bias
        if vocab_ids is not None:
            weight, bias = weight[vocab_ids], bias[vocab_ids]
        return self.norm(F.gelu(self.dense(hidden))) @ weight.T + bias


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class MLMConfig:
    """How to pretrain a ``TextEmbedder``'s BERT as a masked language model (``pretrain_mlm``).

    Attributes:
        epochs: passes over the sentences.
        batch_size: sentences per step.
        lr: AdamW learning rate; linear warm-up over ``warmup_fraction`` of the steps,
            then cosine decay to 0.
        weight_decay: AdamW weight decay (BERT: 0.01).
        mask_prob: fraction of tokens predicted (BERT: 0.15; 80/10/10 as BERT).
        tie_weights: the LM head's decoder is the word-embedding matrix (as BERT's).
        output_vocab: ``"full"`` (BERT's): predict, and draw random replacements, among
            the whole vocabulary but its special tokens; ``"corpus"``: among the corpus's
            own tokens only (a smaller softmax; about 10% faster for BERT-small on a CPU,
            where the encoder dominates).
        max_steps: stop after this many steps (None: no limit); the schedule spans them.
        seed: seeds the head, the sentence order and the masking.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.
        progress: show a tqdm progress bar.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    mask_prob: float = 0.15
    tie_weights: bool = True
    output_vocab: str = "full"
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        check_training_args(self.epochs, self.batch_size, self.lr, self.device, self.max_steps)
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob!r}")
        if self.weight_decay < 0 or not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"weight_decay must be >= 0 and warmup_fraction in [0, 1), got "
                f"{self.weight_decay!r}, {self.warmup_fraction!r}"
            )
        if self.output_vocab not in OUTPUT_VOCABS:
            raise ValueError(
                f"unknown output_vocab {self.output_vocab!r}; choose one of: {', '.join(OUTPUT_VOCABS)}"
            )


def _tokenised(embedder: nn.Module, sentences: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """``(ids, attention, maskable)``, each (N, L): the sentences tokenised once, padded and
    truncated at the embedder's ``max_length``; maskable: neither special nor padding."""
    tokenizer = embedder.tokenizer
    tokens = tokenizer(
        list(sentences),
        padding=True,
        truncation=True,
        max_length=embedder.max_length,
        return_tensors="pt",
    )
    ids, attention = tokens["input_ids"], tokens["attention_mask"]
    maskable = attention.bool() & ~torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    return ids, attention, maskable


def _output_ids(
    corpus_ids: torch.Tensor, special_ids: list[int], vocab_size: int, output_vocab: str
) -> torch.Tensor:
    """The token ids the LM head predicts among, and draws random replacements from (see
    ``MLMConfig.output_vocab``); ``corpus_ids`` are the maskable tokens of the corpus."""
    if output_vocab == "corpus":
        return torch.unique(corpus_ids)
    special = torch.tensor(special_ids)
    return torch.arange(vocab_size)[~torch.isin(torch.arange(vocab_size), special)]


def _mlm_step(
    embedder: nn.Module,
    head: MLMHead,
    tokens: tuple[torch.Tensor, ...],
    vocab_ids: torch.Tensor,
    g_mask: torch.Generator,
    config: MLMConfig,
    device: torch.device,
) -> Callable[[torch.Tensor], tuple[torch.Tensor, float]]:
    """The step ``run_pretraining`` calls: BERT-mask the sentences of a batch of rows of
    ``tokens`` (``_tokenised``; masks drawn from ``g_mask``), encode them, and return the
    cross-entropy of the masked tokens among ``vocab_ids`` and its accuracy."""
    ids, attention, maskable = tokens
    bert, mask_token_id = embedder.bert, embedder.tokenizer.mask_token_id
    word_embeddings = bert.embeddings.word_embeddings
    index = torch.full((word_embeddings.num_embeddings,), -1, dtype=torch.long)
    index[vocab_ids] = torch.arange(len(vocab_ids))
    restrict = vocab_ids.to(device) if config.output_vocab == "corpus" else None

    def step(rows: torch.Tensor) -> tuple[torch.Tensor, float]:
        length = int(attention[rows].sum(1).max())
        batch_ids, batch_mask = ids[rows, :length], maskable[rows, :length]
        inputs, labels = mask_tokens(
            batch_ids, batch_mask, mask_token_id, vocab_ids, g_mask, config.mask_prob
        )
        hidden = bert(
            input_ids=inputs.to(device), attention_mask=attention[rows, :length].to(device)
        ).last_hidden_state
        chosen = labels != -100
        logits = head(hidden[chosen.to(device)], word_embeddings.weight, restrict)
        target = labels[chosen] if restrict is None else index[labels[chosen]]
        target = target.to(device)
        accuracy = (logits.argmax(-1) == target).float().mean().item()
        return F.cross_entropy(logits, target), accuracy

    return step


def pretrain_mlm(
    embedder: nn.Module, sentences: Sequence[str], config: MLMConfig
) -> dict[str, Any]:
    """Pretrain ``embedder.bert`` (a ``TextEmbedder``'s) as a masked language model.

    Sentences are tokenised once with the embedder's tokenizer (truncated at its
    ``max_length``). An LM head (seeded by ``config.seed``) is trained with every BERT
    weight and then discarded. The embedder is moved to the device and left there, its
    train/eval modes restored. The same seed, weights and sentences give the same weights.

    Returns:
        A history: per epoch ``epoch``, ``loss``, ``accuracy`` (of the masked tokens),
        ``lr``; and ``steps``, ``n_sentences``, ``n_outputs`` (size of the softmax).
    """
    if len(sentences) == 0:
        raise ValueError("sentences is empty; use mlm_corpus(n_sentences) for a corpus")
    device = resolve_device(config.device)
    embedder.to(device)
    bert = embedder.bert
    tokens = _tokenised(embedder, sentences)
    vocab_size = bert.embeddings.word_embeddings.num_embeddings
    corpus_ids = tokens[0][tokens[2]]
    special_ids = embedder.tokenizer.all_special_ids
    vocab_ids = _output_ids(corpus_ids, special_ids, vocab_size, config.output_vocab)
    with seeded(config.seed):
        head = MLMHead(
            bert.config.hidden_size, vocab_size, config.tie_weights, bert.config.layer_norm_eps
        ).to(device)
    g_order = torch.Generator().manual_seed(config.seed * 2)
    g_mask = torch.Generator().manual_seed(config.seed * 2 + 1)
    step = _mlm_step(embedder, head, tokens, vocab_ids, g_mask, config, device)
    params = list(bert.parameters()) + list(head.parameters())

    def make_optimizer(total: int) -> tuple[torch.optim.Optimizer, Any]:
        warmup = int(config.warmup_fraction * total)
        return cosine_adamw(params, config.lr, config.weight_decay, total, 0.0, warmup)

    with seeded(config.seed, device), training_mode(embedder, True):
        history = run_pretraining(
            step,
            make_optimizer,
            config,
            n=len(sentences),
            batch=config.batch_size,
            drop_last=False,
            g_order=g_order,
            metric="accuracy",
            desc="mlm",
        )
    n_outputs = vocab_size if config.output_vocab == "full" else len(vocab_ids)
    history.update(n_sentences=len(sentences), n_outputs=n_outputs)
    return history
