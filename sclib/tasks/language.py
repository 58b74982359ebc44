"""Language tasks: subject-verb agreement and reflexive anaphora as odd-one-out.

Marvin & Linzen-style templates over our own word pools (``sclib.tasks.vocab``). Each
problem is four sentences of one template; three are regular, one is odd.

Subject-verb agreement (``sv_agreement``; subroutines ``subject`` and ``verb``):

======================  ==============================================
``simple``              the author leaves
``prep_phrase``         the author near the guards leaves
``object_rc``           the author that the guards watch leaves
``object_rc_no_that``   the author the guards watch leaves
``subject_rc``          the author that watches the guards leaves
======================  ==============================================

Reflexive anaphora (``anaphora``; subroutines ``antecedent`` = the subject noun's number,
``pronoun`` = the reflexive's number; singular reflexive is always "himself"):

======================  ==============================================
``simple``              the author hurt himself
``object_rc``           the author that the guards blamed hurt himself
======================  ==============================================

Number can only be read through syntax: heads and attractors share one noun pool, main
and embedded verbs one verb pool, the attractor's number is drawn independently of the
head's, and the four sentences of a problem share no noun or verb (nor preposition).
A compositional odd sentence flips exactly one part, the subject's (antecedent's) number
or the verb's (reflexive's), half the problems each: it is always ungrammatical, as in the
paper. Splits never share a sentence: every lexical skeleton (template and words, numbers
aside) belongs to exactly one split by a stable hash (80/10/10), the same for every
seed, number and kind, so a test sentence and all its number variants are unseen in
training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sclib.tasks import vocab
from sclib.tasks.base import N_ITEMS, ProblemSet, Task, check_seed

NUMBERS = ("singular", "plural")
SUBROUTINES: dict[str, tuple[str, str]] = {
    "sv_agreement": ("subject", "verb"),
    "anaphora": ("antecedent", "pronoun"),
}
# template -> the lexical slots it fills, besides the head noun and the main verb
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "sv_agreement": {
        "simple": (),
        "prep_phrase": ("prep", "attractor"),
        "object_rc": ("attractor", "embedded"),
        "object_rc_no_that": ("attractor", "embedded"),
        "subject_rc": ("attractor", "embedded"),
    },
    "anaphora": {
        "simple": (),
        "object_rc": ("attractor", "embedded"),
    },
}
# Bump when the sentences of any kind change: kept in every ProblemSet's params (provenance).
# 2: compositional odd sentences flip one part only (version 1 flipped both in a third).
GENERATOR_VERSION = 2
# fraction of lexical skeletons in each split, in thousandths
SPLIT_SHARES = {"train": 800, "val": 100, "test": 100}
# Redraws before a sampler gives up: far beyond any need (a word is redrawn with chance at
# most 8/pool size, a skeleton lands in a 10% split 1 time in 10).
_MAX_TRIES = 10_000


def stable_hash(*parts: Any) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process (unlike ``hash``).

    >>> stable_hash("sv_agreement", 0) == stable_hash("sv_agreement", 0)
    True
    """
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def split_of(*skeleton: Any) -> str:
    """The split a lexical skeleton (task, template, words) belongs to.

    >>> split_of("sv_agreement", "simple", "author", "leaves") in ("train", "val", "test")
    True
    """
    bucket = stable_hash("split", *skeleton) % 1000
    for split, share in SPLIT_SHARES.items():
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("SPLIT_SHARES must add up to 1000")


class _Uniform:
    """Integers drawn from a numpy Generator in chunks (fast one-at-a-time draws)."""

    def __init__(self, rng: np.random.Generator, chunk: int = 1 << 16) -> None:
        self.rng, self.chunk, self.buffer, self.pos = rng, chunk, [], 0

    def below(self, k: int) -> int:
        """A uniform integer in ``range(k)``."""
        if self.pos == len(self.buffer):
            self.buffer, self.pos = self.rng.random(self.chunk).tolist(), 0
        self.pos += 1
        return int(self.buffer[self.pos - 1] * k)

    def permutation(self, k: int) -> list[int]:
        """A uniform random permutation of ``range(k)`` (Fisher-Yates)."""
        out = list(range(k))
        for i in range(k - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def other_than(self, k: int, used: set[int]) -> int:
        """A uniform integer in ``range(k)`` not in ``used``."""
        if sum(0 <= u < k for u in used) >= k:
            raise ValueError(f"all {k} choices are used; a word pool is too small")
        for _ in range(_MAX_TRIES):
            i = self.below(k)
            if i not in used:
                return i
        raise RuntimeError(f"no free choice among {k} in {_MAX_TRIES} draws; enlarge the pool")


class LanguageTask(Task):
    """Subject-verb agreement or reflexive anaphora as odd-one-out over 4 sentences.

    Args:
        name: ``"sv_agreement"`` or ``"anaphora"``.
        number: the variant, ``"singular"`` (default) or ``"plural"``: the number of the
            regular sentences' subject and verb (reflexive).
        seed: base seed; each (kind, split) draws from its own stream derived from it.
        templates: restrict to these templates (default: all of the task's).

    >>> task = LanguageTask("sv_agreement", number="plural")
    >>> items, odd, meta = task.dataset("pm:verb", "val", n=2)[0]
    >>> len(items), meta["breaks"]
    (4, ('verb',))
    """

    def __init__(
        self,
        name: str,
        number: str = "singular",
        seed: int = 0,
        templates: Sequence[str] | None = None,
    ) -> None:
        if name not in SUBROUTINES:
            raise ValueError(
                f"unknown language task {name!r}; choose one of: {', '.join(SUBROUTINES)}"
            )
        if number not in NUMBERS:
            raise ValueError(f"unknown number {number!r}; choose one of: {', '.join(NUMBERS)}")
        valid = tuple(TEMPLATES[name])
        if isinstance(templates, str):
            templates = (templates,)
        templates = valid if templates is None else tuple(templates)
        bad = [t for t in templates if t not in valid]
        if bad or not templates:
            raise ValueError(
                f"unknown templates {bad} for task {name!r}; choose from: {', '.join(valid)}"
            )
        self.name, self.number, self.templates = name, number, templates
        self.seed = check_seed(seed)
        self.subroutines = SUBROUTINES[name]

    def __repr__(self) -> str:
        return (
            f"LanguageTask({self.name!r}, number={self.number!r}, seed={self.seed}, "
            f"templates={self.templates})"
        )

    # -- numbers -----------------------------------------------------------------------

    def _numbers(
        self, family: str, sub: str, odd: int, draw: _Uniform
    ) -> tuple[list[int], list[int], tuple[str, ...]]:
        """Numbers (0 singular, 1 plural) of part A and part B for the 4 sentences.

        ``sub`` is the part the odd sentence breaks; for the compositional family
        ``_make`` alternates it between the two subroutines. The paper's language odd
        items are single flips (arXiv 2301.10884, language data; our reading of it:
        "Regular items: 3 grammatical sentences of one number; the odd one flips the
        subject (antecedent) or the verb (pronoun) number"): flipping both would give a
        grammatical sentence of the other number, which agreement checking cannot tell
        apart. (The paper's vision compositional sets differ: there "the odd item breaks
        A, B or both".)
        """
        x = NUMBERS.index(self.number)
        a_name = self.subroutines[0]
        a, b = [x] * N_ITEMS, [x] * N_ITEMS
        if family == "subroutine":  # that part x / flipped, the other free in every sentence
            a = [draw.below(2) for _ in range(N_ITEMS)]
            b = [draw.below(2) for _ in range(N_ITEMS)]
            (a if sub == a_name else b)[:] = [x] * N_ITEMS
        (a if sub == a_name else b)[odd] = 1 - x
        return a, b, (sub,)

    # -- words -------------------------------------------------------------------------

    def _skeletons(self, template: str, split: str, draw: _Uniform) -> list[tuple]:
        """Four lexical skeletons of ``split`` that share no noun, verb or preposition.

        A skeleton is ``(template, head, prep, attractor, embedded, main)`` as indices
        into the pools (-1 for a slot the template lacks); the split is decided by the
        words themselves, so it does not depend on the order of the pools.
        """
        slots = TEMPLATES[self.name][template]
        n_verbs = len(vocab.PRESENT_VERBS if self.name == "sv_agreement" else vocab.PAST_VERBS)
        nouns: set[int] = set()
        verbs: set[int] = set()
        preps: set[int] = set()
        out = []
        for _ in range(N_ITEMS):
            for _ in range(_MAX_TRIES):
                head = draw.other_than(len(vocab.NOUNS), nouns)
                main = draw.other_than(n_verbs, verbs)
                prep = draw.other_than(len(vocab.PREPOSITIONS), preps) if "prep" in slots else -1
                attr = draw.other_than(len(vocab.NOUNS), nouns | {head}) if slots else -1
                emb = draw.other_than(n_verbs, verbs | {main}) if "embedded" in slots else -1
                skeleton = (template, head, prep, attr, emb, main)
                if split_of(self.name, *self._words(skeleton)) == split:
                    break
            else:
                raise RuntimeError(
                    f"no {template!r} sentence of split {split!r} in {_MAX_TRIES} draws; "
                    "allow more templates or enlarge the word pools"
                )
            nouns.update((head, attr))
            verbs.update((main, emb))
            preps.add(prep)
            out.append(skeleton)
        return out

    def _words(self, skeleton: tuple) -> tuple[str, ...]:
        """The skeleton with pool indices replaced by lemmas (for the split hash)."""
        template, head, prep, attr, emb, main = skeleton
        if self.name == "sv_agreement":
            verbs = [plural for _, plural in vocab.PRESENT_VERBS]
        else:
            verbs = list(vocab.PAST_VERBS)
        return (
            template,
            vocab.NOUNS[head][0],
            vocab.PREPOSITIONS[prep] if prep >= 0 else "-",
            vocab.NOUNS[attr][0] if attr >= 0 else "-",
            verbs[emb] if emb >= 0 else "-",
            verbs[main],
        )

    def _sentence(self, skeleton: tuple, a: int, b: int, attr_n: int) -> str:
        """Render a skeleton with head number ``a``, verb/reflexive number ``b``."""
        template, head, prep, attr, emb, main = skeleton
        subj = vocab.NOUNS[head][a]
        if self.name == "anaphora":
            refl = vocab.REFLEXIVES[NUMBERS[b]]
            if template == "simple":
                return f"the {subj} {vocab.PAST_VERBS[main]} {refl}"
            rc = f"that the {vocab.NOUNS[attr][attr_n]} {vocab.PAST_VERBS[emb]}"
            return f"the {subj} {rc} {vocab.PAST_VERBS[main]} {refl}"
        verb = vocab.PRESENT_VERBS[main][b]
        if template == "simple":
            return f"the {subj} {verb}"
        other = vocab.NOUNS[attr][attr_n]
        if template == "prep_phrase":
            return f"the {subj} {vocab.PREPOSITIONS[prep]} the {other} {verb}"
        if template == "subject_rc":  # the embedded verb agrees with the head
            return f"the {subj} that {vocab.PRESENT_VERBS[emb][a]} the {other} {verb}"
        that = "that " if template == "object_rc" else ""
        return f"the {subj} {that}the {other} {vocab.PRESENT_VERBS[emb][attr_n]} {verb}"

    # -- problems ----------------------------------------------------------------------

    def _make(self, family: str, subroutine: str | None, split: str, n: int) -> ProblemSet:
        kind = family if subroutine is None else f"{family}:{subroutine}"
        entropy = stable_hash(self.seed, self.name, self.number, kind, split)
        draw = _Uniform(np.random.default_rng(np.random.SeedSequence(entropy)))
        a_name, b_name = self.subroutines
        items, metas, odd_index = [], [], []
        # Balanced blocks of problems: compositional, 8 = every odd position x the part
        # it breaks; the other families keep the 12-problem blocks (odd position x 3) they
        # always drew, so their data are unchanged from generator version 1.
        n_breaks = len(self.subroutines) if family == "compositional" else 3
        block: list[int] = []
        for _ in range(n):
            if not block:
                block = draw.permutation(N_ITEMS * n_breaks)
            odd, which = divmod(block.pop(), n_breaks)
            odd_index.append(odd)
            template = self.templates[draw.below(len(self.templates))]
            broken = self.subroutines[which] if family == "compositional" else subroutine
            a, b, breaks = self._numbers(family, str(broken), odd, draw)
            has_attractor = bool(TEMPLATES[self.name][template])
            attr = [draw.below(2) if has_attractor else -1 for _ in range(N_ITEMS)]
            skeletons = self._skeletons(template, split, draw)
            items.append([self._sentence(s, a[j], b[j], attr[j]) for j, s in enumerate(skeletons)])
            metas.append(
                {
                    "breaks": breaks,
                    "template": template,
                    a_name: tuple(NUMBERS[k] for k in a),
                    b_name: tuple(NUMBERS[k] for k in b),
                    "attractor": tuple(NUMBERS[k] if k >= 0 else None for k in attr),
                }
            )
        params = {
            "task": self.name,
            "number": self.number,
            "kind": kind,
            "split": split,
            "n": n,
            "seed": self.seed,
            "templates": self.templates,
            "generator": GENERATOR_VERSION,
        }
        return ProblemSet(items, torch.tensor(odd_index, dtype=torch.long), metas, params)
