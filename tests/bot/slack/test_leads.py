"""Imported leads are found on Slack by e-mail, so their first command finds their projects."""

import io

from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.slack.leads import link_leads_by_email
from handlers.core.reply import Actor
from handlers.projects.register_import import import_projects
from store.models import ChatIdentity, Person

REGISTER = (
    "Project name,Lead,Site,Status\n"
    "Falls prevention,tom.hughes@nhs.net,Ward 7,Active\n"
    "Safer insulin,nobody.here@nhs.net,Diabetes,Active\n"
)


def test_leads_found_by_email_get_their_slack_identity(ctx, sessions, fake_slack, chat):
    import_projects(ctx, io.StringIO(REGISTER))
    fake_slack.add_user("UTOM", "Tom Hughes", email="Tom.Hughes@nhs.net")
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)

    linking = link_leads_by_email(sessions, client)

    assert (linking.linked, linking.not_on_slack, linking.conflicts) == (1, 1, [])
    with sessions() as session:
        identity = session.scalars(select(ChatIdentity)).one()
        assert (identity.platform, identity.workspace, identity.user_id) == (
            "slack",
            "T0001",
            "UTOM",
        )

    tom = Actor("slack", "T0001", "UTOM", "Tom H")
    assert "Falls prevention" in chat.say(tom, "/qi-projects mine").text
    # A second run asks Slack about nobody already linked.
    before = len(fake_slack.calls_to("users.lookupByEmail"))
    link_leads_by_email(sessions, client)
    assert len(fake_slack.calls_to("users.lookupByEmail")) == before + 1  # only the one not found


def test_when_slack_refuses_the_look_ups_the_import_says_why_and_loses_nothing(
    ctx, sessions, fake_slack, chat
):
    import_projects(ctx, io.StringIO(REGISTER))
    fake_slack.add_user("UTOM", "Tom Hughes", email="tom.hughes@nhs.net")
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    # Installed before the manifest asked for users:read.email.
    fake_slack.add_token("xoxb-test", scopes=[s for s in fake_slack.bot_scopes if "email" not in s])

    refused = link_leads_by_email(sessions, client)  # no traceback: a kind account of it
    fake_slack.add_token("xoxb-test")  # the app reinstalled from the manifest
    later = link_leads_by_email(sessions, client)

    assert (refused.linked, refused.not_checked) == (0, 2)
    assert "users:read.email" in (refused.problem or "")
    assert len(fake_slack.calls_to("users.lookupByEmail")) == 1 + 2  # stopped asking at once
    assert (later.linked, later.not_on_slack, later.not_checked) == (1, 1, 0)
    tom = Actor("slack", "T0001", "UTOM", "Tom H")
    assert "Falls prevention" in chat.say(tom, "/qi-projects mine").text


def test_leads_are_kept_as_they_are_found(ctx, sessions, fake_slack, monkeypatch):
    import bot.slack.leads

    monkeypatch.setattr(bot.slack.leads, "SAVE_EVERY", 1)  # every lead found is saved at once
    import_projects(ctx, io.StringIO(REGISTER + "Kind words,ann.lee@nhs.net,Ward 2,Active\n"))
    fake_slack.add_user("UTOM", "Tom Hughes", email="tom.hughes@nhs.net")
    fake_slack.add_user("UANN", "Ann Lee", email="ann.lee@nhs.net")
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)

    linking = link_leads_by_email(sessions, client)

    assert (linking.linked, linking.not_on_slack, linking.conflicts) == (2, 1, [])
    with sessions() as session:
        assert sorted(session.scalars(select(ChatIdentity.user_id))) == ["UANN", "UTOM"]


def test_the_import_command_says_which_leads_slack_was_not_asked_about(
    fake_slack, monkeypatch, tmp_path, capsys
):
    from bot.cli.main import main

    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    monkeypatch.chdir(tmp_path)  # no .env here
    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path}/qi.db",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": fake_slack.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    fake_slack.fail("users.lookupByEmail", 429, retry_after=0, times=4)  # past the retries

    status = main(["import-projects", str(register)])

    said = capsys.readouterr()
    assert status == 0
    assert "Imported: 2 new" in said.out
    assert "Slack: 2 leads not checked yet: Slack is limiting look-ups for now" in said.out
    assert "Traceback" not in said.out + said.err


def test_a_lead_already_on_chat_stays_the_lead_when_the_register_names_them(
    ctx, sessions, fake_slack, chat
):
    """Chat keeps only a digest of their address: matched by it, not made a second record."""
    tom = Actor("slack", "T0001", "UTOM", "Tom Hughes", verified_email="Tom.Hughes@nhs.net")
    chat.say(tom, '/qi-project new "Falls prevention"')
    with sessions() as session:
        people_before = session.scalar(select(func.count()).select_from(Person))

    report = import_projects(ctx, io.StringIO(REGISTER))

    assert "Falls prevention" in chat.say(tom, "/qi-projects mine").text
    assert report.updated + report.unchanged == 1
    with sessions() as session:
        # Only the lead nobody knows yet is new.
        assert session.scalar(select(func.count()).select_from(Person)) == people_before + 1
