"""qi-nudge on Teams over real HTTP: activities posted as Teams posts them, cards sent back.

The bot runs as `qi-nudge serve` builds it (Starlette + the Teams SDK under uvicorn) on a free
port; every Microsoft service it talks to is tests.fakes.FakeTeams on another.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from store.models import ChatAddress, ChatChannel, ChatIdentity, Membership, Person, Project
from store.projects import create_project
from store.roles import ProjectStatus, Role
from tests.bot.message_limits import walk
from tests.bot.serving import post_chunked
from tests.fakes.teams_connector import CREATE_CONVERSATION, SEND_ACTIVITY
from tests.fakes.teams_signing import (
    BAD_TOKEN_KINDS,
    CHANNEL_ID_QI,
    PRIYA,
    TEAM_ID,
    TENANT_ID,
    TeamsUser,
    personal_conversation_id,
)

BEN = TeamsUser(
    user_id="29:1Ben0kafor-personal-id",
    name="Ben Okafor",
    aad_object_id="6f1c2d3e-4a5b-4c6d-8e7f-000000000002",
    email="ben.okafor@nhs.net",
)


# --- reading cards ---------------------------------------------------------------------


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card in a message the bot sent."""
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def card_text(card: dict[str, Any]) -> str:
    """Every word a person sees on a card, in order, one line per text element."""
    lines = []
    for element in walk(card.get("body", [])):
        if element.get("type") == "RichTextBlock":
            lines.append("".join(run.get("text", "") for run in element.get("inlines", [])))
        elif element.get("type") == "TextBlock":
            lines.append(element.get("text", ""))
    return "\n".join(lines)


def button(card: dict[str, Any], title: str) -> tuple[str, dict[str, Any]]:
    """(verb, data) of the Action.Execute titled `title`."""
    for element in walk(card.get("body", [])):
        if element.get("type") == "Action.Execute" and element.get("title") == title:
            return element["verb"], element["data"]
    titles = [e.get("title") for e in walk(card) if e.get("type") == "Action.Execute"]
    raise AssertionError(f"no button {title!r} among {titles}")


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The card's inputs by id."""
    elements = walk(card.get("body", []))
    return {e["id"]: e for e in elements if e.get("type", "").startswith("Input.")}


def sent_to(fake, user: TeamsUser = PRIYA) -> list[dict[str, Any]]:
    """The messages the bot posted in its 1:1 chat with `user`."""
    return fake.activities(personal_conversation_id(user))


def count(bot, model) -> int:
    with bot.ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def project(bot, name: str, *, lead: Person | None = None) -> None:
    with bot.ctx.sessions.begin() as session:
        create_project(
            session,
            name=name,
            site=None,
            status=ProjectStatus.ACTIVE,
            lead_id=lead.id if lead else None,
            now=bot.ctx.now(),
        )


# --- security --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
def test_a_wrongly_signed_activity_is_refused_and_changes_nothing(teams_bot, fake_teams, kind):
    project(teams_bot, "Falls prevention")
    activity = fake_teams.activity("personal", "qi-join Falls prevention as carer")

    answer = teams_bot.http.post(
        "/api/messages",
        json=activity,
        headers={"Authorization": f"Bearer {fake_teams.sign_bad(kind)}"},
    )

    assert answer.status_code == 401
    assert count(teams_bot, Membership) == 0
    assert count(teams_bot, ChatAddress) == 0
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_an_unsigned_activity_is_refused(teams_bot, fake_teams):
    activity = fake_teams.activity("personal", "qi-help")

    answer = teams_bot.http.post("/api/messages", json=activity)

    assert answer.status_code == 401
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_another_organisations_tenant_is_refused(teams_bot, fake_teams):
    stranger = TeamsUser(
        user_id="29:stranger", name="Someone Else", aad_object_id="aad-x", tenant_id="other-t"
    )
    activity = fake_teams.activity("personal", "qi-join forum", user=stranger)

    answer = teams_bot.post(activity)

    assert answer.status_code == 403
    assert count(teams_bot, Person) == 0
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_an_activity_from_another_channel_than_teams_is_refused(teams_bot, fake_teams):
    activity = fake_teams.activity("personal", "qi-help")
    activity["channelId"] = "webchat"

    assert teams_bot.post(activity).status_code == 403
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_a_body_that_is_not_an_activity_gets_400(teams_bot, fake_teams):
    answer = teams_bot.http.post("/api/messages", content=b"[1, 2", headers=fake_teams.headers())

    assert answer.status_code == 400


# --- commands --------------------------------------------------------------------------


def test_joining_in_the_personal_chat_is_stored_and_answered_there(teams_bot, fake_teams):
    fake_teams.add_user(PRIYA)
    project(teams_bot, "Falls prevention")

    answer = teams_bot.say("qi-join Falls prevention as carer")

    assert answer.status_code == 200
    (reply,) = sent_to(fake_teams)
    assert "Falls prevention" in card_text(card_of(reply))
    with teams_bot.ctx.sessions() as session:
        member = session.scalars(select(Membership)).one()
        identity = session.scalars(select(ChatIdentity)).one()
        address = session.scalars(select(ChatAddress)).one()
    assert member.role == Role.CARER
    assert (identity.platform, identity.workspace, identity.user_id) == (
        "teams",
        TENANT_ID,
        PRIYA.aad_object_id,
    )
    # How to reach her later (nudges) was kept: her 1:1 chat and Teams' own id for her.
    assert address.dm_channel == personal_conversation_id(PRIYA)
    assert address.address["userId"] == PRIYA.user_id


def test_a_channel_mention_is_answered_in_the_persons_own_chat(teams_bot, fake_teams):
    fake_teams.add_user(PRIYA)
    project(teams_bot, "Falls prevention")

    teams_bot.say("qi-join Falls prevention as staff", kind="channel_mention")

    (created,) = fake_teams.calls_to(CREATE_CONVERSATION)
    assert created.body["members"] == [{"id": PRIYA.user_id}]
    (answer,) = sent_to(fake_teams)
    assert "Falls prevention" in card_text(card_of(answer))
    posts = _channel_posts(fake_teams)
    thread = [a for conv, acts in posts.items() for a in acts if CHANNEL_ID_QI in conv]
    assert [a["text"] for a in thread] == [
        "I've answered you in our 1:1 chat (look for qi-nudge in your chats)."
    ]
    with teams_bot.ctx.sessions() as session:
        channel = session.scalars(select(ChatChannel)).one()
    assert channel.channel_id == CHANNEL_ID_QI


def _channel_posts(fake) -> dict[str, list[dict[str, Any]]]:
    posts: dict[str, list[dict[str, Any]]] = {}
    for call in fake.calls_to(SEND_ACTIVITY):
        conversation = call.conversation_id
        if conversation and conversation.startswith("19:"):
            posts.setdefault(conversation, []).append(call.body)
    return posts


def test_the_same_activity_delivered_twice_is_handled_once(teams_bot, fake_teams):
    project(teams_bot, "Falls prevention")
    activity = fake_teams.activity("personal", "qi-join Falls prevention as carer")

    teams_bot.post(activity)
    teams_bot.post(activity)  # Teams redelivers what it thinks was lost
    teams_bot.settle()

    assert count(teams_bot, Membership) == 1
    assert len(sent_to(fake_teams)) == 1


def test_text_that_is_not_a_command_gets_the_help(teams_bot, fake_teams):
    teams_bot.say("hello there")

    (reply,) = sent_to(fake_teams)
    help_text = card_text(card_of(reply))
    assert "How qi-nudge works" in help_text
    # Shown as Teams people type them: a "/" would open Teams' own command menu.
    assert "qi-join" in help_text and "/qi-" not in help_text


def test_join_with_no_words_shows_a_form_whose_answers_join_the_team(teams_bot, fake_teams):
    project(teams_bot, "Falls prevention")

    teams_bot.say("qi-join")
    (form_message,) = sent_to(fake_teams)
    form = card_of(form_message)
    fields = inputs_of(form)
    submit = next(e for e in walk(form["body"]) if e.get("type") == "Action.Execute")
    values = {}
    for input_id, element in fields.items():
        choices = [c["value"] for c in element.get("choices", [])]
        if "carer" in choices:
            values[input_id] = "carer"
        elif choices:
            values[input_id] = next(c for c in choices if "falls" in c.lower() or c.isdigit())
        else:
            values[input_id] = "Falls prevention"
    answer = teams_bot.press(submit["verb"], submit["data"], inputs=values)

    assert answer.status_code == 200
    body = answer.json()
    assert body["statusCode"] == 200
    assert "Falls prevention" in card_text(body["value"])
    with teams_bot.ctx.sessions() as session:
        assert session.scalars(select(Membership.role)).all() == [Role.CARER]


def test_a_refused_form_comes_back_with_the_answers_typed(teams_bot, fake_teams):
    project(teams_bot, "Falls prevention")
    teams_bot.say("qi-join")
    form = card_of(sent_to(fake_teams)[0])
    target = next(c["value"] for c in inputs_of(form)["field:target"]["choices"])
    submit = next(e for e in walk(form["body"]) if e.get("type") == "Action.Execute")

    # A client that skips the card's own checks: the role is missing.
    answer = teams_bot.press(submit["verb"], submit["data"], inputs={"field:target": target})

    again = answer.json()["value"]
    assert "Please choose how you will take part." in card_text(again)
    assert inputs_of(again)["field:target"]["value"] == target  # nothing typed is lost
    assert "value" not in inputs_of(again)["field:role"]
    assert count(teams_bot, Membership) == 0


def test_installing_the_app_says_hello_and_keeps_the_address_but_no_person(teams_bot, fake_teams):
    answer = teams_bot.post(fake_teams.activity("install"))
    teams_bot.settle()

    assert answer.status_code == 200
    (welcome,) = sent_to(fake_teams)
    assert "Welcome to qi-nudge" in card_text(card_of(welcome))
    assert count(teams_bot, Person) == 0  # saying hello stores nobody
    with teams_bot.ctx.sessions() as session:
        address = session.scalars(select(ChatAddress)).one()
    assert address.dm_channel == personal_conversation_id(PRIYA)


def test_adding_the_bot_to_a_team_lists_its_general_channel(teams_bot, fake_teams):
    teams_bot.post(fake_teams.activity("team_added"))
    teams_bot.settle()

    with teams_bot.ctx.sessions() as session:
        channel = session.scalars(select(ChatChannel)).one()
    assert channel.channel_id == TEAM_ID
    assert channel.name == "QI Forum > General"
    assert channel.address["teamId"] == TEAM_ID


def test_projects_listed_in_teams_show_what_someone_joined(teams_bot, fake_teams):
    project(teams_bot, "Falls prevention")
    teams_bot.say("qi-join Falls prevention as carer")
    teams_bot.say("qi-join Falls prevention as carer", user=BEN)

    teams_bot.say("qi-projects")

    last = sent_to(fake_teams)[-1]
    assert "Falls prevention" in card_text(card_of(last))
    with teams_bot.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 1
        assert session.scalar(select(func.count()).select_from(Membership)) == 2


def test_stats_answer_first_then_the_run_chart_as_a_picture_with_alt_text(
    teams_bot, fake_teams, clock
):
    from handlers.evidence.stats import backfill, take_snapshot

    clock.advance(days=-7)
    project(teams_bot, "Falls prevention")
    clock.advance(days=7)
    backfill(teams_bot.ctx)
    take_snapshot(teams_bot.ctx)

    teams_bot.say("qi-stats")

    answer, chart = sent_to(fake_teams)
    assert "0 of 1 active project has a service user or carer on the team" in card_text(
        card_of(answer)
    )
    image = next(e for e in walk(card_of(chart)["body"]) if e.get("type") == "Image")
    assert image["url"].startswith("data:image/png;base64,")
    assert image["altText"].startswith("Run chart, one week so far, ")


def test_signing_keys_are_fetched_at_start_not_while_people_wait(teams_bot, fake_teams):
    from tests.fakes.teams_connector import KEYS

    fetched_at_start = len(fake_teams.calls_to(KEYS))
    for text in ("qi-help", "qi-projects", "qi-forum"):
        teams_bot.say(text)

    assert fetched_at_start == 1
    assert len(fake_teams.calls_to(KEYS)) == 1


def test_teams_channels_lists_where_the_bot_can_post_with_the_value_to_use(
    teams_bot, fake_teams, monkeypatch, tmp_path, capsys
):
    from bot.cli.main import main

    teams_bot.post(fake_teams.activity("team_added"))
    teams_bot.say("qi-help", kind="channel_mention")
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", teams_bot.engine.url.render_as_string(hide_password=False))
    for name in ("SLACK_BOT_TOKEN", "TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)

    assert main(["forum", "add", "QI Forum", "--channel", f"teams:{CHANNEL_ID_QI}"]) == 0
    capsys.readouterr()
    assert main(["teams", "channels"]) == 0

    out = capsys.readouterr().out
    assert f"QI Forum > General\n    --channel teams:{TEAM_ID}" in out
    assert f'(announcements of "QI Forum")\n    --channel teams:{CHANNEL_ID_QI}' in out


@pytest.mark.parametrize("kind", ["card_action", "install", "team_added"])
def test_every_kind_of_activity_from_another_tenant_is_refused(teams_bot, fake_teams, kind):
    stranger = TeamsUser(
        user_id="29:stranger", name="Someone Else", aad_object_id="aad-x", tenant_id="other-t"
    )
    if kind == "card_action":
        activity = fake_teams.activity(
            kind, "rsvp", {"action": "rsvp", "value": "1:going"}, reply_to_id="1", user=stranger
        )
    else:
        activity = fake_teams.activity(kind, user=stranger)

    assert teams_bot.post(activity).status_code == 403
    assert count(teams_bot, ChatAddress) == 0
    assert count(teams_bot, ChatChannel) == 0
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_a_token_claiming_another_issuer_is_refused_before_any_key_is_fetched(
    teams_bot, fake_teams, monkeypatch
):
    import jwt

    fetched = []
    real_fetch = jwt.PyJWKClient.fetch_data
    monkeypatch.setattr(
        jwt.PyJWKClient, "fetch_data", lambda self: fetched.append(self.uri) or real_fetch(self)
    )
    # Entra-style: the SDK would fetch this (made-up) tenant's keys, blocking, to check it.
    token = fake_teams.sign(
        iss="https://login.microsoftonline.com/made-up-tenant/v2.0", tid="made-up-tenant"
    )
    activity = fake_teams.activity("personal", "qi-help")

    answer = teams_bot.http.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 401
    assert fetched == []
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_a_body_larger_than_any_activity_is_refused_unread(teams_bot, fake_teams):
    answer = teams_bot.http.post(
        "/api/messages",
        content=b"{" + b" " * 600_000 + b"}",
        headers=fake_teams.headers(),
    )

    assert answer.status_code == 413


def forged_token() -> str:
    """A token that only claims the Bot Framework as issuer: enough to pass the first check."""
    return jwt.encode({"iss": "https://api.botframework.com"}, "k" * 32, algorithm="HS256")


def test_a_chunked_body_without_end_is_refused_while_it_is_still_coming(teams_bot):
    headers = {"Authorization": f"Bearer {forged_token()}", "Content-Type": "application/json"}

    status, sent = post_chunked(teams_bot.url, "/api/messages", headers, most=64 * 1024 * 1024)

    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert sent < 8 * 1024 * 1024  # told long before the 64 MB were sent


def test_json_nested_too_deep_gets_400_not_a_crash(teams_bot, fake_teams, caplog):
    answer = teams_bot.http.post(
        "/api/messages",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"Authorization": f"Bearer {forged_token()}", "Content-Type": "application/json"},
    )

    assert answer.status_code == 400
    assert "Traceback" not in caplog.text
    assert fake_teams.calls_to(SEND_ACTIVITY) == []


def test_a_failing_member_lookup_is_not_repeated_on_every_message(teams_bot, fake_teams):
    from tests.fakes.teams_connector import GET_MEMBER

    fake_teams.add_user(PRIYA)
    fake_teams.fail(GET_MEMBER, 503)

    teams_bot.say("qi-help")
    teams_bot.say("qi-projects")

    assert len(fake_teams.calls_to(GET_MEMBER)) == 1
    assert len(sent_to(fake_teams)) == 2  # both answered all the same


def test_a_lead_takes_someone_off_the_team_from_the_card_on_teams(teams_bot, fake_teams):
    teams_bot.say('qi-project new "Falls prevention"')
    teams_bot.say('qi-project add-member "Falls prevention" "Sam Jones" as carer --consent')
    teams_bot.say("qi-project show Falls prevention")
    card = card_of(sent_to(fake_teams)[-1])
    verb, data = button(card, "Change or remove someone")

    form = teams_bot.press(verb, data).json()["value"]
    (sam,) = inputs_of(form)["field:member"]["choices"]
    submit = next(e for e in walk(form["body"]) if e.get("type") == "Action.Execute")
    # A client that skips the card's own checks: what to do is missing.
    again = teams_bot.press(
        submit["verb"], submit["data"], inputs={"field:member": sam["value"]}
    ).json()["value"]
    confirm = teams_bot.press(
        submit["verb"],
        submit["data"],
        inputs={"field:member": sam["value"], "field:action": "remove"},
    ).json()["value"]

    assert sam["title"] == "Sam Jones (carer, not on chat)"
    assert "Please choose whether to change their details" in card_text(again)
    assert inputs_of(again)["field:member"]["value"] == sam["value"]  # nothing chosen is lost
    assert 'Take Sam Jones off the "Falls prevention" team?' in card_text(confirm)
    with teams_bot.ctx.sessions() as session:
        assert session.scalars(select(Membership.left_at)).all() == [None]

    verb, data = button(confirm, "Yes, take them off")
    done = teams_bot.press(verb, data).json()["value"]

    assert "I've taken Sam Jones off the" in card_text(done)
    with teams_bot.ctx.sessions() as session:
        assert session.scalars(select(Membership.left_at)).all() != [None]


def test_a_suggested_project_is_a_button_that_finishes_the_command(teams_bot, fake_teams):
    fake_teams.add_user(PRIYA)
    project(teams_bot, "Reducing falls on Ward 7")
    teams_bot.say("qi-join Falls prevention as carer")
    (suggestions,) = sent_to(fake_teams)
    verb, data = button(card_of(suggestions), "Reducing falls on Ward 7")

    answer = teams_bot.press(verb, data, reply_to_id=suggestions["id"])

    assert 'Did you mean "Reducing falls on Ward 7"?' in card_text(card_of(suggestions))
    assert answer.status_code == 200
    assert 'Welcome to the "Reducing falls on Ward 7" team as a carer' in card_text(
        answer.json()["value"]
    )
    with teams_bot.ctx.sessions() as session:
        assert session.scalars(select(Membership.role)).all() == [Role.CARER]
