"""/qi-stats shows Big I (on the team) and little i (only consulted), and moves between them."""

from datetime import UTC, datetime

CONSENT = "--consent"
SU = "as service user --consent"


def test_qi_stats_shows_team_members_and_consulted_only_projects(chat, asha):
    for name, site in (("Falls prevention", "Ward 7"), ("Sepsis screening", None), ("Meds", None)):
        chat.say(asha, f'/qi-project new "{name}"' + (f' --site "{site}"' if site else ""))
    chat.say(asha, f'/qi-project add-member "Falls" "Sam Jones" as carer {CONSENT}')
    # Sepsis consults a service user and has a carer on the team: Big I, not little i.
    chat.say(asha, f'/qi-project add-member "Sepsis" "Ali Khan" {SU} --consulted')
    chat.say(asha, f'/qi-project add-member "Sepsis" "Kim Lee" as carer {CONSENT}')
    # Meds only consults: little i. Its staff member does not count either way.
    chat.say(asha, f'/qi-project add-member "Meds" "Dee Carer" as carer {CONSENT} --consulted')
    chat.say(asha, f'/qi-project add-member "Meds" "Eve Nurse" as staff {CONSENT}')

    reply = chat.say(asha, "/qi-stats")

    assert reply.ok
    assert "On the team, or consulted" in reply.text
    assert "• On the team (Big I): 2 of 3 active projects." in reply.text
    assert "• Only consulted now and then (little i): 1 more." in reply.text


def test_qi_stats_counts_people_moved_from_consulted_to_the_team(chat, asha, clock):
    clock.current = datetime(2025, 10, 1, 10, tzinfo=UTC)
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha, f'/qi-project add-member "Falls" "Sam Jones" as carer {CONSENT} --consulted')
    chat.say(asha, f'/qi-project add-member "Falls" "Ali Khan" {SU} --consulted')
    chat.say(asha, '/qi-project edit-member "Falls" "Ali Khan" --team-member')  # over a year ago
    clock.current = datetime(2026, 11, 23, 10, tzinfo=UTC)
    moved = chat.say(asha, '/qi-project edit-member "Falls" "Sam Jones" --team-member')
    assert moved.ok

    reply = chat.say(asha, "/qi-stats")

    assert "• On the team (Big I): 1 of 1 active project." in reply.text
    assert "• Only consulted now and then (little i): 0 more." in reply.text
    assert "Moved from consulted to team member in the last year: 1 service user or carer." in (
        reply.text
    )


def test_a_sites_figures_count_only_its_projects(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')
    chat.say(asha, '/qi-project new "Meds" --site Riverside')
    chat.say(asha, f'/qi-project add-member "Meds" "Dee Carer" as carer {CONSENT} --consulted')

    ward = chat.say(asha, "/qi-stats Ward 7")
    riverside = chat.say(asha, "/qi-stats Riverside")

    assert "• Only consulted now and then (little i): 0 more." in ward.text
    assert "• On the team (Big I): 0 of 1 active project." in riverside.text
    assert "• Only consulted now and then (little i): 1 more." in riverside.text


def test_an_unknown_site_is_still_refused_kindly(chat, asha):
    chat.say(asha, '/qi-project new "Falls prevention" --site "Ward 7"')

    reply = chat.say(asha, "/qi-stats Nowhere Hospital")

    assert not reply.ok and "On the team, or consulted" not in reply.text
