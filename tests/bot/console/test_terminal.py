"""The console transport: typing commands, pressing numbered buttons, filling in forms."""

import io

import pytest
from sqlalchemy import select

from bot.console.terminal import Console, console_actor
from handlers import dispatch
from handlers.core import ids
from handlers.core.reply import Button, Image, Reply, Section, say
from handlers.demo import seed_example_trust
from handlers.dispatch import Dispatcher
from store.forums import create_forum
from store.models import ChatIdentity, ForumMember, Membership, Person, Project
from store.projects import create_project
from store.roles import ProjectStatus, Role


def run_console(ctx, lines, name="Asha Patel"):
    out = io.StringIO()
    console = Console(
        Dispatcher(ctx), console_actor(name), io.StringIO("\n".join(lines) + "\n"), out
    )
    assert console.run() == 0
    return out.getvalue()


def _setup(ctx):
    with ctx.sessions.begin() as session:
        create_project(
            session,
            name="Kinder waiting rooms",
            lead_id=None,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )
        create_forum(session, name="QI Forum", channel=None, now=ctx.now())


def test_join_form_is_walked_through_question_by_question(ctx, sessions):
    _setup(ctx)
    # Choice 2 is the first project (1 is the forum); role 3 is carer.
    transcript = run_console(ctx, ["/qi-join", "2", "3"], name="Priya Shah")

    assert "Which project would you like to join" in transcript
    assert 'Welcome to the "Kinder waiting rooms" team as a carer' in transcript
    with sessions() as session:
        role = session.scalar(
            select(Membership.role)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.display_name == "Priya Shah")
        )
    assert role == Role.CARER


def test_numbered_buttons_press_the_right_action(ctx, sessions):
    _setup(ctx)
    transcript = run_console(ctx, ["/qi-join forum", "3", "1"], name="Ben Okafor")

    assert "[3] Carer" in transcript
    assert "Would you like us to put you in touch" in transcript
    assert "[1] Yes, please" in transcript
    with sessions() as session:
        assert session.execute(select(ForumMember.role, ForumMember.wants_match)).one() == (
            Role.CARER,
            True,
        )


def test_switching_person_at_the_prompt(ctx, sessions):
    _setup(ctx)
    transcript = run_console(
        ctx, ["/qi-join kinder as staff", ":as Ben Okafor", "/qi-join kinder as carer"]
    )

    assert "You are now Ben Okafor." in transcript
    assert "Ben Okafor> " in transcript
    with sessions() as session:
        names = set(session.scalars(select(Person.display_name)))
    assert names == {"Asha Patel", "Ben Okafor"}


@pytest.mark.parametrize("typed", ["as a carer", "carers", "family carer"])
def test_a_role_typed_in_the_join_form_as_people_say_it_is_understood(ctx, sessions, typed):
    _setup(ctx)

    transcript = run_console(ctx, ["/qi-join", "2", typed], name="Priya Shah")

    assert 'Welcome to the "Kinder waiting rooms" team as a carer' in transcript
    with sessions() as session:
        assert session.scalar(select(Membership.role)) == Role.CARER


def test_cancelling_a_form_changes_nothing(ctx, sessions):
    _setup(ctx)
    transcript = run_console(ctx, ["/qi-join", ":cancel"])

    assert "Cancelled. Nothing was changed." in transcript
    with sessions() as session:
        assert session.scalar(select(Membership.id)) is None


def test_stray_input_gets_guidance_not_an_error(ctx):
    transcript = run_console(ctx, ["hello", "7", ":help"])

    assert "Commands start with /" in transcript
    assert "There is no button with that number" in transcript
    assert ":as NAME" in transcript
    assert "Traceback" not in transcript


def test_end_of_input_says_goodbye(ctx):
    out = io.StringIO()
    console = Console(Dispatcher(ctx), console_actor("Asha"), io.StringIO(""), out)
    assert console.run() == 0
    assert "Goodbye." in out.getvalue()


def test_unicode_digits_and_huge_numbers_are_not_buttons(ctx):
    _setup(ctx)
    transcript = run_console(ctx, ["/qi-forum", "²", "99999999999999999999", "/qi-join", "²", "2"])

    assert transcript.count("There is no button with that number") == 1
    assert "Sorry, something went wrong" not in transcript
    assert "Traceback" not in transcript


def test_a_tampered_form_id_gets_a_kind_answer(chat, ben, ctx):
    _setup(ctx)
    form = chat.say(ben, "/qi-join")

    reply = chat.submit(ben, form, target="9" * 20, role="carer")

    assert not reply.ok
    assert "couldn't find a project" in reply.text


# -- pictures (run charts) ----------------------------------------------------------------------

CHART = Image(
    png=b"\x89PNG\r\n\x1a\nfirst chart",
    title="Lived experience on QI teams",
    alt_text="Run chart: 1 in 10 projects rising to 8 in 10",
    filename="qi-run-chart.png",
)


@pytest.fixture
def chart_command(monkeypatch):
    """/qi-chart-test answers with a headline and CHART (the second time, a newer chart)."""
    second = Image(
        draw=lambda: b"\x89PNG\r\n\x1a\nsecond chart",  # drawn when asked, as real charts are
        title=CHART.title,
        alt_text=CHART.alt_text,
        filename=CHART.filename,
    )
    charts = iter([CHART, second])
    monkeypatch.setitem(
        dispatch.COMMANDS,
        "qi-chart-test",
        lambda ctx, actor, text: Reply(sections=(Section(text="8 of 10"),), image=next(charts)),
    )


def test_a_chart_is_saved_next_to_you_and_described(ctx, chart_command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    transcript = run_console(ctx, ["/qi-chart-test", "/qi-chart-test"])

    assert (tmp_path / "qi-run-chart.png").read_bytes() == CHART.png
    assert (tmp_path / "qi-run-chart-2.png").read_bytes().endswith(b"second chart")
    assert (
        "Chart saved to ./qi-run-chart.png (Lived experience on QI teams: "
        "Run chart: 1 in 10 projects rising to 8 in 10)"
    ) in transcript
    assert "Chart saved to ./qi-run-chart-2.png" in transcript


def test_a_chart_never_replaces_a_file_already_there(ctx, chart_command, tmp_path):
    (tmp_path / "qi-run-chart.png").write_bytes(b"someone's own file")
    out = io.StringIO()
    console = Console(
        Dispatcher(ctx),
        console_actor("Asha"),
        io.StringIO("/qi-chart-test\n"),
        out,
        chart_folder=tmp_path,
    )

    console.run()

    assert (tmp_path / "qi-run-chart.png").read_bytes() == b"someone's own file"
    assert (tmp_path / "qi-run-chart-2.png").read_bytes() == CHART.png
    assert f"Chart saved to {tmp_path / 'qi-run-chart-2.png'} (" in out.getvalue()


def test_a_chart_that_cannot_be_saved_is_still_described(ctx, chart_command, tmp_path):
    out = io.StringIO()
    console = Console(
        Dispatcher(ctx),
        console_actor("Asha"),
        io.StringIO("/qi-chart-test\n"),
        out,
        chart_folder=tmp_path / "no such folder",
    )

    console.run()

    assert "The chart could not be saved" in out.getvalue()
    assert CHART.alt_text in out.getvalue()
    assert "Traceback" not in out.getvalue()


def test_a_command_typed_in_the_middle_of_a_form_leaves_it_and_is_done(ctx, sessions):
    _setup(ctx)

    transcript = run_console(ctx, ["/qi-join", ":as Priya Shah", "/qi-forum"], name="Ben Okafor")

    assert "Left the form. Nothing was changed." in transcript
    assert "You are now Priya Shah." in transcript
    assert "== QI Forum ==" in transcript
    with sessions() as session:
        assert session.scalars(select(Membership)).all() == []


# -- forms: each answer checked as it is given -------------------------------------------------


def test_a_wrong_answer_is_asked_again_at_once_and_the_form_goes_on(ctx, sessions):
    _setup(ctx)

    # Choices: [1] the forum, [2] the project; then roles 1 to 5 ([3] carer).
    transcript = run_console(ctx, ["/qi-join", "99", "the moon", "2", "", "²", "3"], name="Ben")

    assert transcript.count("Please type a number from 1 to 2, or :cancel to stop.") == 2
    assert transcript.count("Please type a number from 1 to 5, or :cancel to stop.") == 2
    assert 'Welcome to the "Kinder waiting rooms" team as a carer' in transcript
    with sessions() as session:
        assert session.scalar(select(Membership.role)) == Role.CARER


def test_a_choice_can_be_typed_in_words(ctx, sessions):
    _setup(ctx)

    transcript = run_console(ctx, ["/qi-join", "kinder  WAITING rooms", "service user"])

    assert 'Welcome to the "Kinder waiting rooms" team as a service user' in transcript


def _lead_of_kinder(ctx):
    with ctx.sessions.begin() as session:
        lead = Person(display_name="Asha Patel", created_at=ctx.now())
        lead.identities.append(
            ChatIdentity(platform="console", workspace="local", user_id="asha patel")
        )
        session.add(lead)
        session.flush()
        project = create_project(
            session,
            name="Kinder waiting rooms",
            lead_id=lead.id,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )
        return project.id


def test_the_add_member_form_asks_again_for_an_empty_name_and_for_agreement(
    ctx, sessions, monkeypatch
):
    project_id = _lead_of_kinder(ctx)
    open_form = Button("Add someone", ids.OPEN_ADD_MEMBER, str(project_id))
    monkeypatch.setitem(
        dispatch.COMMANDS, "qi-add-test", lambda ctx, actor, text: say("Add", buttons=(open_form,))
    )

    transcript = run_console(
        ctx, ["/qi-add-test", "1", "", "x" * 201, "Sam Jones", "3", "1", "no", "1"]
    )

    assert "Please type an answer, or :cancel to stop." in transcript
    assert "Please keep it to 200 characters (that was 201), or :cancel to stop." in transcript
    assert 'Please type 1 for "Yes, they have agreed", or :cancel to stop.' in transcript
    assert 'Sam Jones is now recorded on the "Kinder waiting rooms" team as a carer' in transcript
    with sessions() as session:
        assert session.scalar(select(Membership.role)) == Role.CARER


def test_a_refused_form_comes_back_with_the_answers_kept(ctx, sessions, monkeypatch):
    project_id = _lead_of_kinder(ctx)
    open_form = Button("Add someone", ids.OPEN_ADD_MEMBER, str(project_id))
    monkeypatch.setitem(
        dispatch.COMMANDS, "qi-add-test", lambda ctx, actor, text: say("Add", buttons=(open_form,))
    )

    # "???" is no name (the handler refuses it); then Enter keeps carer, team member, agreed.
    transcript = run_console(
        ctx, ["/qi-add-test", "1", "???", "3", "1", "1", "Sam Jones", "", "", ""]
    )

    assert "Please give the person's name" in transcript
    assert "Record a team member, again: press Enter to keep an answer" in transcript
    assert "(Enter keeps: Carer)" in transcript
    assert "(Enter keeps: Yes, they have agreed)" in transcript
    assert 'Sam Jones is now recorded on the "Kinder waiting rooms" team as a carer' in transcript
    with sessions() as session:
        recorded = session.execute(
            select(Person.display_name, Membership.role).join(Membership.person)
        ).all()
    assert recorded == [("Sam Jones", Role.CARER)]  # once, and nobody called "???"


def test_the_readmes_join_example_in_the_demo_offers_the_falls_project_to_press(ctx, sessions):
    seed_example_trust(ctx)

    transcript = run_console(ctx, ["/qi-join Falls prevention as carer", "1"], name="Priya Shah")

    assert 'I couldn\'t find a project called "Falls prevention".' in transcript
    assert '"Reducing falls on Ward 7"' in transcript
    assert "[1] Reducing falls on Ward 7" in transcript
    assert 'Welcome to the "Reducing falls on Ward 7" team as a carer.' in transcript
    with sessions() as session:
        joined = session.execute(
            select(Project.name, Membership.role)
            .join(Membership, Membership.project_id == Project.id)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.display_name == "Priya Shah")
        ).all()
    assert joined == [("Reducing falls on Ward 7", Role.CARER)]


def test_leave_alone_in_the_demo_lists_your_teams_and_the_forum_to_press(ctx, sessions):
    seed_example_trust(ctx)

    transcript = run_console(ctx, ["/qi-leave", "2", "1"], name="Ben Okafor")

    assert "Which would you like to leave?" in transcript
    assert "[1] QI Forum" in transcript and "[2] Reducing falls on Ward 7" in transcript
    assert 'You\'ve left the "Reducing falls on Ward 7" team.' in transcript
    assert "[1] Join this team again" in transcript
    assert transcript.count('Welcome to the "Reducing falls on Ward 7" team as a carer.') == 1
