"""The weekly sweep writes in short transactions: a stop between any two is finished next run,
and chat requests made while it works get their usual answers."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from handlers.core.context import Context
from handlers.core.weeks import week_of
from handlers.dispatch import SORRY, Dispatcher
from handlers.nudges import matchmaking
from handlers.nudges import weekly as nudges_module
from handlers.nudges.weekly import NudgePolicy, run_sweep
from store import nudges as nudge_store
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import MatchOffer, Project, ProjectNudge
from store.projects import create_project
from store.roles import ProjectStatus
from tests.conftest import person
from tests.handlers import given
from tests.handlers.sweeps import FALLS, next_week, organiser, planned, start, sweep

QUICK = NudgePolicy(escalate_after=1)
DAN = person("Dan Hughes")


class Stopped(Exception):
    """The process died here (between two of the sweep's transactions)."""


def everything(ctx):
    """What the sweeps have left: messages planned, project states, introductions."""
    with ctx.sessions() as session:
        states = session.execute(
            select(
                ProjectNudge.project_id,
                ProjectNudge.weeks_in_a_row,
                ProjectNudge.last_week,
                ProjectNudge.escalated_at,
            ).order_by(ProjectNudge.project_id)
        ).all()
        offers = session.execute(
            select(MatchOffer.project_id, MatchOffer.person_id, MatchOffer.status).order_by(
                MatchOffer.id
            )
        ).all()
    return planned(ctx), [tuple(s) for s in states], [tuple(o) for o in offers]


def stop_at(k):
    """A `between` hook that stops the sweep at its k-th pause (0: after its first write)."""
    calls = iter(range(1_000))

    def between():
        if next(calls) == k:
            raise Stopped

    return between


def test_a_sweep_stopped_between_any_two_writes_is_finished_by_the_next_with_nothing_twice(
    chat, ctx, asha, ben, chloe, monkeypatch
):
    monkeypatch.setattr(nudges_module, "SWEEP_CHUNK", 1)  # every row its own transaction
    given.forum(ctx.sessions, ctx.now())
    welcome = chat.say(ben, "/qi-join forum as carer")
    assert chat.press(ben, welcome, "Yes, please").ok  # would like a project: an offer
    start(chat, asha, FALLS, "Sepsis screening")
    organiser(ctx, chloe)
    sweep(ctx, QUICK)
    next_week(ctx)
    start(chat, DAN, "Hand hygiene")  # nudged; Asha's two are passed to the organisers
    week = week_of(ctx.now(), ctx)
    connection = ctx.sessions.kw["bind"]  # the test's connection: undo each try below

    attempt = connection.begin_nested()
    whole = run_sweep(ctx, week=week, policy=QUICK, between=lambda: None)
    expected = everything(ctx)
    attempt.rollback()
    pauses = len(whole.offers) + len(whole.deliveries) + len(whole.states) - 1
    assert (len(whole.offers), len(whole.deliveries), len(whole.states)) == (1, 2, 3)
    assert [row[0] for row in expected[0][-2:]] == ["nudge", "escalation"]

    for k in range(pauses):
        attempt = connection.begin_nested()
        with pytest.raises(Stopped):
            run_sweep(ctx, week=week, policy=QUICK, between=stop_at(k))
        again = run_sweep(ctx, week=week, policy=QUICK, between=lambda: None)
        assert everything(ctx) == expected, f"stopped at pause {k}"
        assert again.planned_new <= len(whole.deliveries)
        attempt.rollback()


def test_requests_while_the_sweep_works_get_their_usual_answers_on_sqlite(
    tmp_path, clock, monkeypatch
):
    """SQLite has one write lock: the sweep's reading must not hold it, nor its writing for long."""
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}", pool_size=4, max_overflow=0)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    bot = Dispatcher(ctx)
    with ctx.sessions.begin() as session:
        for n in range(5):
            create_project(
                session,
                name=f"Project {n}",
                lead_id=None,
                site=None,
                status=ProjectStatus.ACTIVE,
                now=clock(),
            )
    lead = person("Asha Patel")
    for n in range(3):
        assert bot.command(lead, "/qi-project", f'new "Lead project {n}"').ok
    answers = []

    def join(n):
        answers.append(bot.command(person(f"Newcomer {n}"), "/qi-join", f"Project {n} as staff"))

    choose = matchmaking.choose_matches

    def choose_while_someone_joins(session, seeking):
        # In the middle of working out the plan: a request from another thread, waited for.
        other = threading.Thread(target=join, args=(0,))
        other.start()
        other.join(timeout=30)
        return choose(session, seeking)

    monkeypatch.setattr(nudges_module, "choose_matches", choose_while_someone_joins)
    monkeypatch.setattr(nudges_module, "SWEEP_CHUNK", 1)
    turns = iter(range(1, 5))

    def between():
        join(next(turns, 4))

    plan = run_sweep(ctx, week=week_of(clock(), ctx), policy=QUICK, between=between)

    assert plan.planned_new == 1
    assert len(answers) >= 3
    assert all(a.ok and a.text != SORRY for a in answers), [a.text for a in answers]
    engine.dispose()


def statements_of_a_sweep(chat, ctx, leads):
    """The SQL statements this week's sweep sends, with `leads` leads of a project each."""
    for n in range(leads):
        start(chat, person(f"Lead {n}"), f"Project {n}")
    seen = []
    connection = ctx.sessions.kw["bind"]

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(connection, "before_cursor_execute", count)
    try:
        plan = sweep(ctx)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert plan.planned_new == leads
    return [word for word in seen if word not in ("SAVEPOINT", "RELEASE", "ROLLBACK")]


@pytest.mark.parametrize("leads", [2, 6])
def test_the_sweep_sends_as_many_statements_however_many_projects(chat, ctx, leads):
    """Set-based: a statement per kind of write and per chunk, never one per project."""
    assert statements_of_a_sweep(chat, ctx, leads) == statements_of_a_sweep.expected


statements_of_a_sweep.expected = [
    "UPDATE",  # forget_settled
    "UPDATE",  # expire unanswered offers to leads
    "UPDATE",  # ...and to people
    "SELECT",  # admins
    "SELECT",  # candidates
    "SELECT",  # willing people
    "SELECT",  # this week's nudges so far
    "INSERT",  # the messages
    "INSERT",  # the project states
]


@pytest.mark.parametrize("fresh_database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_snooze_while_the_sweep_works_out_its_plan_is_kept(
    fresh_database_url, clock, monkeypatch
):
    """The sweep reads, then writes: a project snoozed in between keeps its fresh start."""
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    bot = Dispatcher(ctx)
    lead = person("Asha Patel")
    assert bot.command(lead, "/qi-project", f'new "{FALLS}"').ok
    with ctx.sessions() as session:
        falls = session.scalar(select(Project.id))
    choose = matchmaking.choose_matches
    until = clock() + timedelta(weeks=4)

    def choose_while_the_lead_snoozes(session, seeking):
        def snooze():
            with ctx.sessions.begin() as other:
                nudge_store.snooze(other, falls, until=until, reason="recruiting")

        other = threading.Thread(target=snooze)
        other.start()
        other.join(timeout=30)
        return choose(session, seeking)

    monkeypatch.setattr(nudges_module, "choose_matches", choose_while_the_lead_snoozes)
    plan = run_sweep(ctx, week=week_of(clock(), ctx), policy=QUICK)

    with ctx.sessions() as session:
        state = session.get(ProjectNudge, falls)
        assert (state.snoozed_until, state.weeks_in_a_row, state.last_week) == (until, 0, None)
    assert plan.planned_new == 1  # the reminder was planned before the snooze: it is withdrawn
    engine.dispose()
