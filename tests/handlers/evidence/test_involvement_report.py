"""/qi-stats involvement: how involved people feel, in aggregate, never by person."""

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from store.involvement import A_LOT, NOT_AT_ALL, NOT_REALLY, SOMEWHAT, period_key
from store.models import InvolvementAnswer, Membership
from store.roles import Role
from tests.conftest import person
from tests.handlers import given

FALLS, SEPSIS = "Falls prevention", "Sepsis screening"
# Six-week periods, the latest beginning Monday 16 November 2026 (the clock's period).
PERIODS = [date(2026, 11, 16) - timedelta(weeks=6 * n) for n in range(5, -1, -1)]


def answers(ctx, project_id, start, given_answers, *, names=None):
    """Service users on the team, each answering once in the period: (answer, comment) pairs.

    None as an answer: asked, not answered. Returns the people's names.
    """
    now = ctx.now()
    names = names or [f"Member {start:%m%d} {project_id}-{i}" for i in range(len(given_answers))]
    ids = given.many_people(ctx.sessions, names, now)
    given.many_members(ctx.sessions, project_id, [(pid, Role.SERVICE_USER) for pid in ids], now)
    with ctx.sessions.begin() as session:
        places = dict(
            session.execute(
                select(Membership.person_id, Membership.id).where(
                    Membership.project_id == project_id, Membership.person_id.in_(ids)
                )
            ).all()
        )
        session.execute(
            insert(InvolvementAnswer),
            [
                {
                    "membership_id": places[pid],
                    "person_id": pid,
                    "project_id": project_id,
                    "period": period_key(start),
                    "period_start": start,
                    "answer": answer,
                    "comment": comment,
                    "asked_at": datetime(start.year, start.month, start.day, 10, tzinfo=now.tzinfo),
                    "answered_at": (
                        now - timedelta(minutes=len(given_answers) - i) if answer else None
                    ),
                }
                for i, (pid, (answer, comment)) in enumerate(zip(ids, given_answers, strict=True))
            ],
        )
    return names


def plain(*chosen):
    return [(answer, None) for answer in chosen]


def test_organisers_see_the_share_in_the_top_two_per_period_as_a_run_chart(chat, ctx, asha, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    falls, sepsis = given.many_projects(ctx.sessions, [FALLS, SEPSIS], ctx.now(), lead_id=lead)
    for n, start in enumerate(PERIODS):
        # Falls: one more "Yes" each period; Sepsis adds two "not really".
        answers(ctx, falls, start, plain(*([A_LOT] * (n + 1)), NOT_AT_ALL))
        answers(ctx, sepsis, start, plain(SOMEWHAT, NOT_REALLY, NOT_REALLY))

    reply = chat.say(chloe, "/qi-stats involvement")

    assert reply.ok
    # Latest period: 6 + 1 from Falls (6 yes), 3 from Sepsis (1 yes): 7 of 10.
    assert "In the period from 16 November 2026, 7 of 10 answers said" in reply.text
    assert "Yes, a lot: 6; Yes, somewhat: 1; Not really: 2; Not at all: 1." in reply.text
    assert "6 periods shown." in reply.text
    # Rising every period: the trend rule fires, said in one line and one short sentence.
    assert "6 periods in a row going up" in reply.text
    assert "probably a real change" in reply.text
    assert reply.image is not None and reply.image.png.startswith(b"\x89PNG")
    assert "feel their views shape" in reply.image.title
    # Never by person or by team.
    assert "Member" not in reply.text and FALLS not in reply.text
    assert "Member" not in reply.image.alt_text


def test_periods_with_fewer_than_three_answers_are_left_out_and_it_says_why(chat, ctx, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=None)
    answers(ctx, falls, PERIODS[0], plain(A_LOT, A_LOT))  # two: too few
    answers(ctx, falls, PERIODS[1], plain(A_LOT, NOT_REALLY, SOMEWHAT, None))
    answers(ctx, falls, PERIODS[2], plain(NOT_AT_ALL, NOT_REALLY, SOMEWHAT))

    reply = chat.say(chloe, "/qi-stats involvement")

    assert "2 periods shown." in reply.text
    assert "1 period with fewer than 3 answers is left out" in reply.text
    # Asked but not answered is not an answer: 2 of 3 in the second period.
    assert reply.image is not None
    assert "67%" in reply.image.alt_text and "100%" not in reply.image.alt_text


def test_too_few_answers_anywhere_shows_nothing(chat, ctx, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=None)
    answers(ctx, falls, PERIODS[-1], plain(A_LOT, NOT_AT_ALL))

    reply = chat.say(chloe, "/qi-stats involvement")

    assert reply.ok and reply.image is None
    assert "No period has enough answers yet" in reply.text
    assert "Not at all" not in reply.text


def test_organisers_see_the_latest_comments_without_names(chat, ctx, chloe):
    given.organiser(ctx.sessions, chloe, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=None)
    answers(ctx, falls, PERIODS[-2], [(A_LOT, "An old comment"), (A_LOT, None), (A_LOT, None)])
    names = answers(
        ctx,
        falls,
        PERIODS[-1],
        [(A_LOT, "They listen to me"), (NOT_REALLY, "  "), (SOMEWHAT, "More notice please")],
        names=["Dee Carer", "Eli User", "Fay User"],
    )

    reply = chat.say(chloe, "/qi-stats involvement")

    assert "“More notice please”\n• “They listen to me”" in reply.text  # latest first
    assert "An old comment" not in reply.text
    assert not any(name in reply.text for name in names)
    # The chart may be posted in a channel: no comment goes near it.
    assert reply.image is not None and "listen" not in reply.image.alt_text


def test_people_who_are_not_organisers_are_kindly_refused(chat, ctx, asha, ben):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=lead)
    answers(ctx, falls, PERIODS[-1], plain(A_LOT, A_LOT, NOT_AT_ALL))

    for who in (asha, ben):
        reply = chat.say(who, "/qi-stats involvement")
        assert not reply.ok and reply.image is None
        assert "Only QI forum organisers" in reply.text
        assert "/qi-stats involvement mine" in reply.text
        assert "Not at all" not in reply.text


def test_a_lead_sees_their_own_teams_share_once_a_round_with_enough_answers_is_over(
    chat, ctx, asha
):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    falls, sepsis = given.many_projects(ctx.sessions, [FALLS, SEPSIS], ctx.now(), lead_id=lead)
    answers(ctx, falls, PERIODS[-2], plain(A_LOT, SOMEWHAT, SOMEWHAT, NOT_AT_ALL))
    answers(ctx, sepsis, PERIODS[-2], plain(A_LOT, NOT_REALLY, None))
    answers(ctx, falls, PERIODS[-1], plain(NOT_AT_ALL, NOT_AT_ALL, NOT_AT_ALL))  # still open

    reply = chat.say(asha, "/qi-stats involvement mine")

    assert reply.ok
    assert (
        f'• {FALLS} (the weeks from 5 October 2026): 3 of 4 answers said "Yes, a lot" or '
        '"Yes, somewhat" (75%).' in reply.text
    )
    assert f"• {SEPSIS}: not enough answers yet to show without identifying anyone." in reply.text
    assert "Member" not in reply.text and "Not at all" not in reply.text  # no counts by answer


def test_answers_a_lead_recorded_for_people_never_help_them_work_out_anyone_elses(chat, ctx, asha):
    # Two answers Asha recorded herself (Sam and Pat, not on chat) and Ben's own: the counts
    # would tell her Ben's answer, so hers are left out and the rest is too few to show.
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=lead)
    answers(ctx, falls, PERIODS[-2], plain(A_LOT, A_LOT, NOT_AT_ALL))
    with ctx.sessions.begin() as session:
        rows = session.scalars(select(InvolvementAnswer).order_by(InvolvementAnswer.id)).all()
        rows[0].recorded_by_id = rows[1].recorded_by_id = lead

    reply = chat.say(asha, "/qi-stats involvement mine")

    assert f"• {FALLS}: not enough answers yet to show without identifying anyone." in reply.text


def test_a_lead_asks_for_their_team_by_name_and_others_may_not(chat, ctx, asha, ben):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    (falls,) = given.many_projects(ctx.sessions, [FALLS], ctx.now(), lead_id=lead)
    answers(ctx, falls, PERIODS[-2], plain(A_LOT, A_LOT, A_LOT))

    mine = chat.say(asha, f"/qi-stats involvement {FALLS}")
    theirs = chat.say(ben, f"/qi-stats involvement {FALLS}")

    assert '3 of 3 answers said "Yes, a lot" or "Yes, somewhat" (100%)' in mine.text
    assert not theirs.ok and "Yes, a lot" not in theirs.text
    assert f'Only the lead of "{FALLS}" or a forum organiser' in theirs.text


def test_someone_who_leads_nothing_is_told_so(chat, ctx):
    reply = chat.say(person("Gil Newcomer"), "/qi-stats involvement mine")

    assert reply.ok and "You don't lead a project here" in reply.text


def test_help_for_stats_names_the_involvement_report(chat, asha):
    reply = chat.say(asha, "/qi-help stats")

    assert "/qi-stats involvement: how involved service users and carers feel" in reply.text
    assert "/qi-stats involvement mine" in reply.text
