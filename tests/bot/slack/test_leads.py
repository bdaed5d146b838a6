"""Imported leads are found on Slack by e-mail, so their first command finds their projects."""

import io

from slack_sdk import WebClient
from sqlalchemy import select

from bot.slack.leads import link_leads_by_email
from handlers.project_import import import_projects
from handlers.reply import Actor
from store.models import ChatIdentity

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
