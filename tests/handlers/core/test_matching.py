"""Forgiving name matching: the pure functions, and projects matched in the database."""

import pytest

from handlers.core import matching
from handlers.core.matching import (
    MAX_SUGGESTIONS,
    Named,
    match_name,
    match_project_name,
    with_shared_words,
)
from store.names import name_key
from store.projects import OPEN_STATUSES
from store.roles import ProjectStatus
from tests.handlers import given
from tests.query_watch import watching

PROJECTS = [
    "Falls prevention",
    "Falls audit",
    "Reducing falls on ward 7",
    "Sepsis screening",
    "St John's ward discharge",
    "<!channel>",
]


def options(names=PROJECTS):
    return [Named(name, name) for name in names]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("Falls prevention", "Falls prevention"),
        ("falls PREVENTION", "Falls prevention"),
        ("  falls   prevention ", "Falls prevention"),
        ("falls-prevention", "Falls prevention"),
        ("falls p", "Falls prevention"),  # a unique beginning
        ("sep", "Sepsis screening"),
        ("ward 7", "Reducing falls on ward 7"),  # words in the middle
        ("7 reducing", "Reducing falls on ward 7"),  # words in any order
        ("St John’s", "St John's ward discharge"),  # punctuation does not count
        ("st john's", "St John's ward discharge"),
        ("discharge", "St John's ward discharge"),
        ("channel", "<!channel>"),
        ("<!CHANNEL>", "<!channel>"),
    ],
)
def test_finds_the_one_project_meant(typed, found):
    match = match_name(typed, options())

    assert match.found == found
    if found:
        assert match.candidates == () and not match.ambiguous


def test_an_exact_name_wins_over_a_longer_one_that_starts_the_same():
    match = match_name("falls", options(["Falls", "Falls prevention"]))

    assert match.found == "Falls"


def test_a_shared_beginning_is_ambiguous_and_lists_both():
    match = match_name("falls", options())

    assert match.found is None and match.ambiguous
    assert match.candidates == ("Falls prevention", "Falls audit")


def test_shared_words_in_the_middle_are_ambiguous():
    match = match_name("ward", options())

    assert match.found is None and match.ambiguous
    assert set(match.candidates) == {"Reducing falls on ward 7", "St John's ward discharge"}


def test_a_typo_suggests_close_names_but_finds_nothing():
    match = match_name("Sepsis screenign", options())

    assert match.found is None and not match.ambiguous
    assert match.candidates == ("Sepsis screening",)


def test_a_dropped_or_curly_apostrophe_still_finds_the_name():
    assert match_name("St Johns ward discharge", options()).found == "St John's ward discharge"
    assert match_name("st john’s ward", options()).found == "St John's ward discharge"


def test_nothing_close_suggests_nothing():
    match = match_name("quantum teleportation", options())

    assert match == type(match)(found=None)


@pytest.mark.parametrize("typed", ["", "   ", "!!!", "\x00"])
def test_an_empty_name_matches_nothing(typed):
    assert match_name(typed, options()).found is None
    assert match_name(typed, options()).candidates == ()


def test_suggestions_are_limited():
    many = [f"Falls project {n}" for n in range(MAX_SUGGESTIONS + 4)]

    match = match_name("falls", options(many))

    assert match.ambiguous and len(match.candidates) == MAX_SUGGESTIONS


def test_two_options_with_the_same_folded_name_are_ambiguous():
    match = match_name("falls prevention", options(["Falls prevention", "FALLS-prevention"]))

    assert match.found is None and match.ambiguous


def test_matching_returns_the_item_not_the_name():
    match = match_name("sepsis", [Named("Sepsis screening", 42), Named("Falls", 7)])

    assert match.found == 42


def test_no_options_finds_nothing():
    assert match_name("falls", []).found is None


# --- Projects matched in the database, at trust scale -------------------------------------

# Slips people make: a letter wrong, missing, extra or two swapped in one word, the wrong
# case, a word left out.
TYPOS = [
    ("Reducing falls on ward 12 2016", "reducing fals on ward 12 2016"),
    ("Reducing falls on ward 12 2016", "Reducnig falls on ward 12 2016"),
    ("Improving sepsis screening on ward 3 2015", "improving sepsis screeening on ward 3 2015"),
    ("Improving sepsis screening on ward 3 2015", "IMPROVING SEPSIS SCREENING ON WARD 3 2051"),
    ("Safer hand hygiene on ward 7 2015", "safer hand hygene on ward 7 2015"),
    ("Safer hand hygiene on ward 7 2015", "safer hand hygeine ward 7 2015"),
    ("Earlier discharge planning on ward 20 2016", "earlier dsicharge planning on ward 20 2016"),
    ("Earlier discharge planning on ward 20 2016", "earlier discharge planing ward 20 2016"),
    ("Earlier mouth care on ward 9 2015", "Earlier mouth care on wrad 9 2015"),
    ("Improving mouth care on ward 28 2016", "improving moth care on ward 28 2016"),
    ("Reducing hand hygiene on ward 1 2015", "reducing hand hygiene on ward 1 2105"),
    ("Safer falls on ward 14 2016", "afer falls on ward 14 2016"),
]


def offered(match):
    """The one name found, or the names offered instead."""
    if match.found is None:
        return list(match.candidates)
    return [getattr(match.found, "name", match.found)]


def test_a_typo_offers_what_matching_every_name_would(sessions, clock):
    names = given.realistic_names(1200)
    given.many_projects(sessions, names, clock(), lead_id=None)
    everything = [Named(name, name) for name in sorted(names, key=name_key)]

    for meant, typed in TYPOS:
        with sessions() as session:
            found = offered(match_project_name(session, name_key(typed), None, typos=True))
        full = offered(match_name(typed, everything))
        assert meant in full, typed
        assert found[:1] == full[:1] == [meant], typed


def test_a_typo_reads_a_few_candidates_not_every_name(sessions, clock, chat, asha, monkeypatch):
    monkeypatch.setattr(matching, "TYPO_CANDIDATES", 20)
    given.many_projects(sessions, given.realistic_names(600), clock(), lead_id=None)
    connection = sessions.kw["bind"]

    with watching(connection) as watched:
        reply = chat.say(asha, "/qi-join reducing fals on ward 12 2015 as carer")

    assert "Reducing falls on ward 12 2015" in reply.text
    assert watched.rows <= 20 + 10  # the candidates, and a few rows about who is asking


def test_a_unique_beginning_and_words_are_asked_of_the_index(sessions, clock, chat, asha):
    given.many_projects(sessions, given.realistic_names(600), clock(), lead_id=None)
    connection = sessions.kw["bind"]

    with watching(connection) as watched:
        beginning = chat.say(asha, "/qi-join earlier mouth care on ward 9 201 as carer")
        words = chat.say(asha, "/qi-join ward 3 2015 falls improv as carer")

    assert "Welcome" in beginning.text or "How will" in beginning.text
    assert "Earlier mouth care on ward 9 2015" in beginning.text
    assert "Improving falls on ward 3 2015" in words.text
    assert watched.rows <= 40


# --- Suggestions from shared words, when nothing fits every typed word ---------------------

DEMO = [
    "Reducing falls on Ward 7",
    "Pressure ulcer prevention",
    "Kinder waiting rooms",
    "Falls audit 2019",
    "Smoother handovers at night",
]


def shared(sessions, typed, statuses=None, close=()):
    with sessions() as session:
        return with_shared_words(session, name_key(typed), statuses, close)


def test_names_sharing_a_typed_word_are_offered_most_shared_first(sessions, clock):
    given.many_projects(sessions, DEMO, clock(), lead_id=None)

    assert shared(sessions, "Falls prevention") == (
        "Falls audit 2019",  # as many words shared, nearer in length
        "Reducing falls on Ward 7",
        "Pressure ulcer prevention",
    )
    assert shared(sessions, "falls at night on ward 7")[:2] == (
        "Reducing falls on Ward 7",  # "falls" and "ward" ("on" and "7" are too short to say)
        "Smoother handovers at night",
    )
    assert shared(sessions, "prev") == ("Pressure ulcer prevention",)  # a word's start will do


def test_names_already_found_close_come_first_and_are_not_repeated(sessions, clock):
    given.many_projects(sessions, DEMO, clock(), lead_id=None)

    assert shared(sessions, "Falls prevention", close=("Pressure ulcer prevention",)) == (
        "Pressure ulcer prevention",
        "Falls audit 2019",
        "Reducing falls on Ward 7",
    )
    five = tuple(f"Close {n}" for n in range(MAX_SUGGESTIONS))
    assert shared(sessions, "Falls prevention", close=five) == five


def test_only_projects_of_the_statuses_asked_for_are_offered(sessions, clock):
    given.many_projects(sessions, DEMO[:1], clock(), lead_id=None)
    given.many_projects(
        sessions, ["Falls audit 2019"], clock(), lead_id=None, status=ProjectStatus.COMPLETED
    )

    assert shared(sessions, "falls prevention", OPEN_STATUSES) == ("Reducing falls on Ward 7",)
    assert len(shared(sessions, "falls prevention")) == 2


@pytest.mark.parametrize("typed", ["on 7", "qu", "", "zebra crossing", "!!!"])
def test_short_or_unknown_words_offer_nothing(sessions, clock, typed):
    given.many_projects(sessions, DEMO, clock(), lead_id=None)

    assert shared(sessions, typed) == ()


def test_shared_words_are_asked_of_the_word_index_not_every_project(sessions, clock):
    given.many_projects(sessions, given.realistic_names(600), clock(), lead_id=None)

    with sessions() as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        with watching(connection) as watched:
            offered = with_shared_words(session, "sepsis prevention 2015", None, ())
        plans = watched.plans()

    assert len(offered) == MAX_SUGGESTIONS
    assert all("sepsis" in name.lower() and "2015" in name for name in offered)
    assert watched.rows <= MAX_SUGGESTIONS + 1  # the counts of each word's entries, the few
    assert not any(
        line.startswith("SCAN projects") or "Seq Scan on projects" in line
        for plan in plans
        for line in plan.splitlines()
    )
