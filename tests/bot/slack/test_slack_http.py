"""Slack end to end: signed requests in over HTTP, Web API calls out to the fake Slack."""

import logging
import time

import pytest
from sqlalchemy import func, select

from handlers.core import ids
from store.models import ForumMember, Membership, Person, Project, Rsvp
from store.roles import Role
from tests.bot.serving import post_chunked
from tests.fakes import block_actions_body, event_body, slash_command_body, view_submission_body

FORM = "application/x-www-form-urlencoded"

LEAD, CARER, ORGANISER = "ULEAD", "UCARER", "UORG"


def visible_text(blocks):
    """What a person sees in a list of blocks: every text and button label, in order."""
    out = []
    for block in blocks or []:
        if "text" in block and isinstance(block["text"], dict):
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), dict):
                out.append(element["text"]["text"])
    return "\n".join(out)


def count(bot, model):
    with bot.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar()


def command(bot, fake, user, name, text, **options):
    """A slash command as Slack sends it: with a new response_url and trigger_id each time."""
    options.setdefault("trigger_id", fake.new_trigger_id())
    options.setdefault("response_url", fake.response_url())
    body = slash_command_body(name, text, user_id=user, **options)
    return bot.post(body)


def button(answer, label):
    """The button with this label in an answer's blocks."""
    return next(
        element
        for block in answer["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["text"]["text"] == label
    )


def add_forum(bot):
    """A forum, as an organiser would add it."""
    from store.engine import make_sessions
    from store.forums import create_forum

    with make_sessions(bot.engine).begin() as session:
        create_forum(
            session, name="QI Forum", channel=None, now=bot.service.transport.bot.ctx.now()
        )


def start_project(bot, fake, name="Falls prevention"):
    fake.add_user(LEAD, "Asha Patel")
    assert command(bot, fake, LEAD, "/qi-project", f'new "{name}"').status_code == 200


def test_join_answers_in_the_ack_and_tells_the_lead(slack_bot, fake_slack, clock):
    start_project(slack_bot, fake_slack)
    fake_slack.add_user(CARER, "Ben Okafor")

    joined = command(slack_bot, fake_slack, CARER, "/qi-join", "falls as carer")
    slack_bot.settle()
    assert fake_slack.calls_to("chat.postMessage") == []  # the hour's news goes after the hour
    clock.advance(hours=1, minutes=1)
    slack_bot.settle()

    assert joined.status_code == 200
    answer = joined.json()
    assert answer["response_type"] == "ephemeral"
    assert 'Welcome to the "Falls prevention" team as a carer' in visible_text(answer["blocks"])
    assert count(slack_bot, Membership) == 1
    dms = fake_slack.calls_to("chat.postMessage")
    assert [c.args["channel"] for c in dms] == ["D" + LEAD]
    assert "Ben Okafor has joined your project" in dms[0].args["text"]
    # users.info once per person, not once per request.
    assert sorted(c.args["user"] for c in fake_slack.calls_to("users.info")) == [CARER, LEAD]
    with slack_bot.engine.connect() as connection:
        names = set(connection.execute(select(Person.display_name)).scalars())
    assert names == {"Asha Patel", "Ben Okafor"}


def test_every_core_command_answers_through_slack(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    for name, text, expected in [
        ("/qi-projects", "", "0 of 1 active project has a service user or carer"),
        ("/qi-project", 'show "Falls prevention"', "Led by Asha Patel"),
        ("/qi-forum", "", "There is no QI forum set up here yet"),
        ("/qi-leave", "falls", "You're not on the"),
        ("/qi-help", "", "/qi-join"),
    ]:
        response = command(slack_bot, fake_slack, LEAD, name, text)
        assert response.status_code == 200, name
        assert expected in visible_text(response.json()["blocks"]), name


def test_join_with_no_words_opens_a_modal_and_its_submission_joins(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    fake_slack.add_user(CARER, "Ben Okafor")

    trigger_id = fake_slack.new_trigger_id()
    response = command(
        slack_bot,
        fake_slack,
        CARER,
        "/qi-join",
        "",
        trigger_id=trigger_id,
        response_url=fake_slack.response_url("join"),
    )
    slack_bot.settle()

    assert response.status_code == 200 and response.content in (b"", b"null")
    (opened,) = fake_slack.calls_to("views.open")
    assert opened.args["trigger_id"] == trigger_id
    view = opened.args["view"]
    assert [v["callback_id"] for v in fake_slack.opened_views()] == ["join_form"]
    assert view["callback_id"] == "join_form"
    project_choice = view["blocks"][1]["element"]["options"][0]

    submitted = slack_bot.post(
        view_submission_body(
            "join_form",
            {
                "target": {"value": {"type": "static_select", "selected_option": project_choice}},
                "role": {"value": {"type": "static_select", "selected_option": {"value": "carer"}}},
            },
            user_id=CARER,
            private_metadata=view["private_metadata"],
        )
    )
    slack_bot.settle()

    assert submitted.status_code == 200
    assert count(slack_bot, Membership) == 1
    # The answer goes back through the command's response_url: that works in any channel,
    # where chat.postEphemeral fails unless the bot was added to it.
    (key, answer) = fake_slack.responses[-1]
    assert key == "join" and answer["response_type"] == "ephemeral"
    assert "Welcome to the" in answer["text"]
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_a_refused_form_stays_open_with_the_reason_and_stores_nothing(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    before = count(slack_bot, Membership)

    submitted = slack_bot.post(
        view_submission_body(
            "join_form",
            {
                "target": {"value": {"type": "plain_text_input", "value": "no such project"}},
                "role": {"value": {"type": "static_select", "selected_option": {"value": "carer"}}},
            },
            user_id=CARER,
        )
    )

    assert submitted.status_code == 200
    body = submitted.json()
    assert body["response_action"] == "errors"
    assert "couldn't find a project" in body["errors"]["target"]
    assert count(slack_bot, Membership) == before


def test_rsvp_button_updates_the_card_in_place(slack_bot, fake_slack):
    from handlers.core.context import Context
    from handlers.forum.meetings import add_meeting
    from store.engine import make_sessions
    from store.forums import create_forum

    sessions = make_sessions(slack_bot.engine)
    ctx = slack_bot.service.transport.bot.ctx
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel=None, now=ctx.now())
        meeting = add_meeting(
            session,
            Context(sessions=sessions, clock=ctx.clock),
            forum,
            ctx.now().replace(year=2027),
            "Room 4",
            None,
        )
        meeting_id = meeting.id
    fake_slack.add_user(CARER, "Ben Okafor")
    card = command(slack_bot, fake_slack, CARER, "/qi-forum", "").json()
    going = button(card, "I'm going")

    pressed = slack_bot.post(
        block_actions_body(
            going["action_id"],
            going["value"],
            user_id=CARER,
            response_url=fake_slack.response_url("card"),
            ephemeral=True,  # /qi-forum answered only this person
        )
    )
    slack_bot.settle()

    assert pressed.status_code == 200
    assert count(slack_bot, Rsvp) == 1
    ((key, body),) = fake_slack.responses
    assert key == "card" and body["replace_original"] is True
    assert "Going: 1 (1 who didn't say)." in visible_text(body["blocks"])
    assert f"{meeting_id}:going" == going["value"]


def test_a_button_on_a_shared_channel_card_answers_beside_it(slack_bot, fake_slack):
    add_forum(slack_bot)
    answer = command(slack_bot, fake_slack, CARER, "/qi-join", "forum as carer").json()
    no = button(answer, "Not now")

    slack_bot.post(
        block_actions_body(
            no["action_id"],
            no["value"],
            user_id=CARER,
            response_url=fake_slack.response_url("shared"),
            ephemeral=False,
        )
    )
    slack_bot.settle()

    (_, body) = fake_slack.responses[-1]
    assert body["replace_original"] is False and body["response_type"] == "ephemeral"


def test_record_member_button_opens_the_add_member_modal(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    with slack_bot.engine.connect() as connection:
        project_id = connection.execute(select(Project.id)).scalar()

    trigger_id = fake_slack.new_trigger_id()
    slack_bot.post(
        block_actions_body(
            "open_add_member#0", str(project_id), user_id=LEAD, trigger_id=trigger_id
        )
    )
    slack_bot.settle()

    (opened,) = fake_slack.calls_to("views.open")
    assert opened.args["trigger_id"] == trigger_id
    assert [v["callback_id"] for v in fake_slack.opened_views()] == ["add_member_form"]


def test_app_home_shows_my_projects_and_a_retry_publishes_once(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D1", "tab": "home"}

    first = slack_bot.post(event_body(event, event_id="Ev9"), json_body=True)
    retry = slack_bot.post(
        event_body(event, event_id="Ev9"), json_body=True, retry_num=1, retry_reason="http_timeout"
    )
    slack_bot.settle()

    assert first.status_code == 200 and retry.status_code == 200
    assert len(fake_slack.calls_to("views.publish")) == 1
    home = fake_slack.home(LEAD)
    assert "Falls prevention (you lead it)" in visible_text(home["blocks"])


def test_requests_not_signed_by_slack_are_refused_and_change_nothing(slack_bot, fake_slack):
    body = slash_command_body("/qi-project", 'new "Sneaky"', user_id=LEAD)
    bad = slack_bot.http.post(
        "/slack/events",
        content=body,
        headers={
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=00",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    missing = slack_bot.http.post(
        "/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    stale = slack_bot.post(body, timestamp=int(time.time()) - 6 * 60)

    assert [bad.status_code, missing.status_code, stale.status_code] == [401, 401, 401]
    assert count(slack_bot, Project) == 0
    # Only the start-up token check reached Slack; nothing was done for the bad requests.
    assert [c.method for c in fake_slack.calls] == ["auth.test"]


def test_a_retried_command_creates_no_duplicate(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    body = slash_command_body("/qi-join", "falls as carer", user_id=CARER)

    slack_bot.post(body)
    slack_bot.post(body, retry_num=1, retry_reason="http_timeout")

    assert count(slack_bot, Membership) == 1


@pytest.mark.parametrize("junk", [b"payload=[1]", b"[1]", b'"x"', b"payload=%7Bnot-json"])
def test_unsigned_junk_is_refused_before_it_is_read(slack_bot, junk):
    response = slack_bot.http.post(
        "/slack/events", content=junk, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("junk", [b"payload=[1]", b'"x"'])
def test_signed_bodies_that_are_not_slack_payloads_get_a_4xx(slack_bot, junk):
    assert 400 <= slack_bot.post(junk).status_code < 500


def test_a_malformed_payload_gets_a_4xx_and_a_log_line(slack_bot, fake_slack, caplog):
    with caplog.at_level(logging.WARNING):
        response = slack_bot.post(
            b"payload=%7Bnot-json",
        )
    assert 400 <= response.status_code < 500
    assert slack_bot.http.get("/healthz").json() == {"status": "ok"}


def test_a_body_far_larger_than_any_slack_request_is_refused(slack_bot, fake_slack):
    calls_before = len(fake_slack.calls)

    response = slack_bot.post(b"text=" + b"x" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert len(fake_slack.calls) == calls_before


def test_a_chunked_body_without_end_is_refused_while_it_is_still_coming(slack_bot):
    """No Content-Length to check first: the body is counted as it arrives, not kept whole."""
    status, sent = post_chunked(
        slack_bot.url, "/slack/events", {"Content-Type": FORM}, most=64 * 1024 * 1024
    )

    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert sent < 8 * 1024 * 1024  # told long before the 64 MB were sent
    assert slack_bot.http.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("stamp", ["abc", "1e3", "", "9" * 5000])
def test_a_timestamp_that_is_not_a_number_is_refused_not_a_crash(slack_bot, stamp, caplog):
    body = b"command=/qi-help&user_id=U1"
    response = slack_bot.http.post(
        "/slack/events",
        content=body,
        headers={
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=00",
            "Content-Type": FORM,
        },
    )

    assert response.status_code == 401
    assert "Traceback" not in caplog.text


def test_text_slack_sends_escaped_is_kept_as_it_was_typed(slack_bot, fake_slack):
    """Slack sends "&" as "&amp;": stored as typed, shown once-escaped, never as "&amp;amp;"."""
    start_project(slack_bot, fake_slack, name="Falls & fractures <ward 7>")

    listing = command(slack_bot, fake_slack, LEAD, "/qi-projects", "").json()

    with slack_bot.engine.connect() as connection:
        names = list(connection.execute(select(Project.name)).scalars())
    assert names == ["Falls & fractures <ward 7>"]
    text = visible_text(listing["blocks"])
    assert "Falls &amp; fractures &lt;ward 7&gt;" in text
    assert "&amp;amp;" not in text and "&amp;lt;" not in text


def test_user_text_cannot_ping_a_channel(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack, name="<!channel> <@U999> <https://evil|click>")

    listing = command(slack_bot, fake_slack, LEAD, "/qi-projects", "").json()

    text = visible_text(listing["blocks"]) + listing["text"]
    assert "<!channel>" not in text and "<@U999>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; &lt;@U999&gt;" in text


def test_a_rate_limited_dm_waits_for_retry_after_then_arrives(slack_bot, fake_slack, clock):
    start_project(slack_bot, fake_slack)
    fake_slack.fail("chat.postMessage", 429, retry_after=1)

    command(slack_bot, fake_slack, CARER, "/qi-join", "falls as carer")
    clock.advance(hours=1, minutes=1)  # when the lead's news of the hour is due
    slack_bot.settle()
    clock.advance(seconds=2)  # past Retry-After
    slack_bot.settle()

    attempts = fake_slack.calls_to("chat.postMessage")
    assert len(attempts) == 2
    assert len(fake_slack.messages("D" + LEAD)) == 1


def test_forum_join_buttons_work_from_the_ephemeral_answer(slack_bot, fake_slack):
    add_forum(slack_bot)
    answer = command(slack_bot, fake_slack, CARER, "/qi-join", "forum").json()
    carer = button(answer, "Carer")  # how they come is asked first

    for pressed in (carer, None):
        if pressed is None:  # then, being a carer, whether they'd like a project
            ((_, asked),) = fake_slack.responses
            assert asked["replace_original"] is True
            pressed = button(asked, "Yes, please")
        slack_bot.post(
            block_actions_body(
                pressed["action_id"],
                pressed["value"],
                user_id=CARER,
                response_url=fake_slack.response_url(),
                ephemeral=True,
            )
        )
        slack_bot.settle()

    with slack_bot.engine.connect() as connection:
        assert connection.execute(select(ForumMember.role, ForumMember.wants_match)).one() == (
            Role.CARER,
            True,
        )


def test_healthz(slack_bot):
    assert slack_bot.http.get("/healthz").json() == {"status": "ok"}


@pytest.mark.solo  # asserts how long things take (tests/solo.py)
def test_a_slow_users_info_never_makes_the_ack_late(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    fake_slack.delay("users.info", 4.0)

    started = time.monotonic()
    response = command(
        slack_bot, fake_slack, CARER, "/qi-join", "falls as carer", user_name="ben.o"
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 200 and elapsed < 2.5
    assert "Welcome to the" in visible_text(response.json()["blocks"])
    assert count(slack_bot, Membership) == 1  # joined under the name Slack sent ("ben.o")


def test_a_slack_server_error_on_a_dm_is_retried_and_delivered(slack_bot, fake_slack, clock):
    start_project(slack_bot, fake_slack)
    fake_slack.fail("chat.postMessage", 503)

    command(slack_bot, fake_slack, CARER, "/qi-join", "falls as carer")
    clock.advance(hours=1, minutes=1)  # when the lead's news of the hour is due
    slack_bot.settle()
    tried_once = len(fake_slack.calls_to("chat.postMessage")) == 1
    nothing_yet = fake_slack.messages("D" + LEAD) == []
    clock.advance(minutes=1)  # the outbox's back-off
    slack_bot.settle()

    assert tried_once and nothing_yet
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(fake_slack.messages("D" + LEAD)) == 1


def test_when_a_form_cannot_open_the_person_is_told_how_to_type_it(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    stale = fake_slack.new_trigger_id()
    fake_slack.clock = lambda: time.monotonic() + 3.5  # the trigger is 3.5 s old when used

    command(slack_bot, fake_slack, CARER, "/qi-join", "", trigger_id=stale)
    slack_bot.settle()

    assert fake_slack.opened_views() == []
    (_, body) = fake_slack.responses[-1]
    assert "the form didn't open in time" in body["text"]
    assert "/qi-join Falls prevention as carer" in body["text"]


def test_a_form_no_command_can_replace_just_asks_to_try_again(slack_bot, fake_slack):
    """The snooze form has no typed form: no misleading /qi-join example."""
    start_project(slack_bot, fake_slack)
    with slack_bot.engine.connect() as connection:
        project = connection.execute(select(Project.id)).scalar_one()
    fake_slack.fail("views.open", 200, error="expired_trigger_id")

    pressed = slack_bot.post(
        block_actions_body(
            ids.OPEN_SNOOZE, str(project), user_id=LEAD, response_url=fake_slack.response_url()
        )
    )
    slack_bot.settle()

    assert pressed.status_code == 200
    (_, body) = fake_slack.responses[-1]
    assert body["text"] == "Sorry, the form didn't open in time. Please try again."


def test_a_slow_lookup_does_not_overwrite_a_stored_name(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)  # Asha is stored under her Slack display name
    slack_bot.service.transport.directory._cache.clear()  # her cached profile has expired
    fake_slack.delay("users.info", 2.0)

    command(slack_bot, fake_slack, LEAD, "/qi-projects", "", user_name="asha.p")
    command(slack_bot, fake_slack, LEAD, "/qi-project", 'new "Second project"', user_name="asha.p")

    with slack_bot.engine.connect() as connection:
        names = set(connection.execute(select(Person.display_name)).scalars())
    assert names == {"Asha Patel"}


def test_starting_with_the_token_in_the_environment_logs_no_false_alarm(
    fake_slack, monkeypatch, caplog, tmp_path
):
    from bot.runtime.serve import build_service
    from bot.runtime.settings import load_settings
    from handlers.core.context import Context
    from store.engine import make_engine, make_sessions

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")  # as IT deploys it
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": fake_slack.base_url,
        },
        env_file=None,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}")

    with caplog.at_level("WARNING"):
        build_service(settings, engine, Context(sessions=make_sessions(engine)))

    assert "token` will be unused" not in caplog.text
    engine.dispose()


def test_a_lead_takes_someone_off_the_team_from_the_card_on_slack(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack)
    fake_slack.add_user(CARER, "Ben Okafor")
    command(slack_bot, fake_slack, CARER, "/qi-join", "falls as carer")
    card = command(slack_bot, fake_slack, LEAD, "/qi-project", "show Falls prevention").json()
    change = button(card, "Change or remove someone")

    trigger_id = fake_slack.new_trigger_id()
    slack_bot.post(
        block_actions_body(
            change["action_id"],
            change["value"],
            user_id=LEAD,
            trigger_id=trigger_id,
            response_url=fake_slack.response_url("card"),
        )
    )
    slack_bot.settle()
    (opened,) = fake_slack.calls_to("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == ids.CHANGE_MEMBER_FORM
    ben = view["blocks"][1]["element"]["options"][0]
    assert ben["text"]["text"] == "Ben Okafor (carer)"

    def chosen(value):
        return {"value": {"type": "static_select", "selected_option": value and {"value": value}}}

    submitted = slack_bot.post(
        view_submission_body(
            ids.CHANGE_MEMBER_FORM,
            {
                "member": {"value": {"type": "static_select", "selected_option": ben}},
                "action": chosen("remove"),
                "name": {"value": {"type": "plain_text_input", "value": None}},
                "role": chosen(None),
                "involvement": chosen(None),
                "since": {"value": {"type": "plain_text_input", "value": None}},
            },
            user_id=LEAD,
            private_metadata=view["private_metadata"],
        )
    )
    slack_bot.settle()

    assert submitted.status_code == 200
    assert count(slack_bot, Membership) == 1  # nothing changed before the lead says yes
    (_, confirm) = fake_slack.responses[-1]
    assert 'Take Ben Okafor off the "Falls prevention" team?' in visible_text(confirm["blocks"])
    yes = button(confirm, "Yes, take them off")

    slack_bot.post(
        block_actions_body(
            yes["action_id"],
            yes["value"],
            user_id=LEAD,
            response_url=fake_slack.response_url("confirm"),
            ephemeral=True,
        )
    )
    slack_bot.settle()

    (_, done) = fake_slack.responses[-1]
    assert "I've taken Ben Okafor off the" in visible_text(done["blocks"])
    with slack_bot.engine.connect() as connection:
        assert connection.execute(select(Membership.left_at)).scalar() is not None


def test_a_suggested_project_is_a_button_that_finishes_the_command(slack_bot, fake_slack):
    start_project(slack_bot, fake_slack, name="Reducing falls on Ward 7")
    fake_slack.add_user(CARER, "Ben Okafor")
    answer = command(slack_bot, fake_slack, CARER, "/qi-join", "Falls prevention as carer").json()
    suggested = button(answer, "Reducing falls on Ward 7")

    pressed = slack_bot.post(
        block_actions_body(
            suggested["action_id"],
            suggested["value"],
            user_id=CARER,
            response_url=fake_slack.response_url("suggested"),
            ephemeral=True,
        )
    )
    slack_bot.settle()

    assert 'Did you mean "Reducing falls on Ward 7"?' in visible_text(answer["blocks"])
    assert suggested["action_id"].startswith(ids.RUN_SUGGESTED)
    assert pressed.status_code == 200
    ((key, body),) = fake_slack.responses
    assert key == "suggested"
    assert 'Welcome to the "Reducing falls on Ward 7" team as a carer' in visible_text(
        body["blocks"]
    )
    with slack_bot.engine.connect() as connection:
        assert connection.execute(select(Membership.role)).scalars().all() == ["carer"]
