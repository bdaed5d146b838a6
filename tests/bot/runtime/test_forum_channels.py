"""`qi-nudge forum add/set/check` and `serve`: can the bot post in each forum's channel?

The command runs as `qi-nudge` runs it (its `main`, in this process, settings from the
environment), against the fake Slack and the fake Teams over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.cli.main import main
from store.engine import make_engine, make_sessions
from store.forums import create_forum, list_forums
from store.migrate import upgrade
from tests.bot.teams.conftest import teams_env
from tests.fakes import FakeSlack
from tests.fakes.teams_connector import PAGED_MEMBERS, FakeTeams
from tests.fakes.teams_signing import CHANNEL_ID_QI, TEAM_ID

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "deploy" / "slack-manifest.yml"
README = ROOT / "README.md"
CLEARED = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "TEAMS_APP_ID",
    "TEAMS_APP_PASSWORD",
    "TEAMS_TENANT_ID",
)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        running.add_channel("C0PUBLIC", "qi-forum")
        running.add_channel("C0MEMBER", "carers-forum", bot_member=True)
        running.add_channel("G0PRIVATE", "secret-forum", private=True)
        running.add_channel("C0OLD", "old-forum", bot_member=True, archived=True)
        yield running


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    """A fresh database, and an environment with no platform configured."""
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def on_slack(database, fake, monkeypatch) -> str:
    """The bot configured for Slack, which is the fake."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", fake.base_url)
    return database


def forums_stored(url: str) -> list[tuple[str, str | None]]:
    """Every forum's name and channel, as stored."""
    engine = make_engine(url)
    try:
        with make_sessions(engine)() as session:
            return [(f.name, f.channel) for f in list_forums(session)]
    finally:
        engine.dispose()


def qi(capsys, *argv: str) -> tuple[int, str]:
    """Run `qi-nudge ARGV`; its exit code and everything it printed."""
    capsys.readouterr()
    code = main(list(argv))
    printed = capsys.readouterr()
    return code, printed.out + printed.err


# --- forum add / forum set join a public channel, and explain a private one -------------------


def test_setting_a_public_channel_joins_it_at_once(on_slack, fake, capsys):
    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")

    assert code == 0
    assert out == 'Added the forum "QI Forum".\nqi-nudge joined #qi-forum, so it can post there.\n'
    assert fake.bot_is_member("C0PUBLIC")
    assert [c.args["channel"] for c in fake.calls_to("conversations.join")] == ["C0PUBLIC"]


def test_setting_a_channel_the_bot_is_in_changes_nothing_on_slack(on_slack, fake, capsys):
    qi(capsys, "forum", "add", "QI Forum")

    code, out = qi(capsys, "forum", "set", "QI Forum", "--channel", "slack:C0MEMBER")

    assert code == 0
    assert out.endswith("qi-nudge can post in #carers-forum.\n")
    assert fake.calls_to("conversations.join") == []


def test_setting_a_private_channel_says_plainly_how_to_invite_the_bot(on_slack, fake, capsys):
    qi(capsys, "forum", "add", "QI Forum")

    code, out = qi(capsys, "forum", "set", "QI Forum", "--channel", "slack:G0PRIVATE")

    assert code == 0  # the forum is set; the channel needs a person
    assert "type /invite @qi-nudge in it" in out
    assert "Nothing is lost meanwhile" in out
    assert "Traceback" not in out
    assert not fake.bot_is_member("G0PRIVATE")


def test_slack_down_while_setting_a_channel_is_said_kindly_and_nothing_is_lost(
    on_slack, fake, capsys
):
    fake.fail("conversations.info", 503)

    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")

    assert code == 0
    assert "could not check it on Slack: Slack said fatal_error" in out
    assert "Nothing is lost meanwhile" in out
    assert "Traceback" not in out
    assert not fake.bot_is_member("C0PUBLIC")
    with_slack_back = qi(capsys, "forum", "check")  # the forum was set all the same
    assert with_slack_back[0] == 0 and "joins by itself" in with_slack_back[1]


def installed_without(fake: FakeSlack, scope: str) -> None:
    """The bot's token is from an install made before the manifest asked for `scope`."""
    fake.add_token("xoxb-test", scopes=[s for s in fake.bot_scopes if s != scope])


def test_an_app_installed_before_it_could_join_says_to_reinstall_it(on_slack, fake, capsys):
    installed_without(fake, "channels:join")

    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")
    fake.add_token("xoxb-test")  # reinstalled from the manifest
    again = qi(capsys, "forum", "set", "QI Forum", "--channel", "slack:C0PUBLIC")

    assert code == 0  # the forum is added all the same
    assert "the Slack app lacks a permission (channels:join)" in out
    assert "reinstall it from deploy/slack-manifest.yml" in out
    assert "Traceback" not in out
    assert again[0] == 0
    assert again[1].endswith("qi-nudge joined #qi-forum, so it can post there.\n")
    assert fake.bot_is_member("C0PUBLIC")


def test_forum_check_without_the_scope_to_see_a_channel_says_which_is_missing(
    on_slack, fake, capsys
):
    installed_without(fake, "groups:read")
    fake.invite_bot("G0PRIVATE")
    qi(capsys, "forum", "add", "Public", "--channel", "slack:C0MEMBER")
    qi(capsys, "forum", "add", "Private", "--channel", "slack:G0PRIVATE")

    code, out = qi(capsys, "forum", "check")

    assert code == 1
    assert '"Public" (slack:C0MEMBER): qi-nudge can post in #carers-forum.' in out
    assert "the Slack app lacks a permission (groups:read)" in out


def test_without_slack_here_setting_a_slack_channel_says_so(database, capsys):
    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")

    assert code == 0
    assert "Slack is not set up here (SLACK_BOT_TOKEN)" in out


@pytest.mark.parametrize(
    "typed", ["C0123", "teams:", "slack:", "zoom:abc", "slack:c0123", "slack:#qi-forum", ":C0123"]
)
def test_a_channel_that_is_not_one_is_refused_kindly_and_nothing_is_stored(
    on_slack, fake, capsys, typed
):
    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", typed)

    assert code == 1
    assert out == (
        f'"{typed}" is not a channel I can post in, so nothing was changed. Please write it as '
        "slack:C0123 (a Slack channel) or teams:19:...@thread.tacv2 (a Teams channel). In "
        "Slack, a channel's id is at the bottom of its details; for Teams, qi-nudge teams "
        "channels lists them.\n"
    )
    assert forums_stored(on_slack) == []
    assert fake.calls == []  # nothing was asked of Slack either


def test_setting_a_channel_that_is_not_one_keeps_the_channel_the_forum_had(on_slack, fake, capsys):
    qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0MEMBER")

    code, out = qi(capsys, "forum", "set", "QI Forum", "--channel", "C0999")

    assert code == 1
    assert out.startswith('"C0999" is not a channel I can post in, so nothing was changed.')
    assert forums_stored(on_slack) == [("QI Forum", "slack:C0MEMBER")]


def test_spaces_around_a_channel_are_dropped_before_it_is_stored(on_slack, fake, capsys):
    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", " slack:C0PUBLIC ")
    qi(capsys, "forum", "add", "Teams Forum", "--channel", f"teams:{CHANNEL_ID_QI}\n")

    assert code == 0
    assert out.endswith("qi-nudge joined #qi-forum, so it can post there.\n")
    assert forums_stored(on_slack) == [
        ("QI Forum", "slack:C0PUBLIC"),
        ("Teams Forum", f"teams:{CHANNEL_ID_QI}"),
    ]


def test_an_empty_channel_clears_the_forum_s_channel(on_slack, fake, capsys):
    qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0MEMBER")

    code, out = qi(capsys, "forum", "set", "QI Forum", "--channel", "")

    assert code == 0
    assert out.startswith('"QI Forum" announces in no channel yet;')
    assert forums_stored(on_slack) == [("QI Forum", None)]


def test_slack_unreachable_while_setting_a_channel_does_not_say_organisers_are_told(
    on_slack, fake, capsys, monkeypatch
):
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # nothing listens there

    code, out = qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")

    assert code == 0
    assert "could not check it on Slack: could not reach Slack just now" in out
    assert "organisers are told" not in out
    assert "joins the channel (if it can) when it first posts there" in out
    assert forums_stored(on_slack) == [("QI Forum", "slack:C0PUBLIC")]


# --- forum check ---------------------------------------------------------------------------------


def test_forum_check_says_for_each_forum_whether_the_bot_can_post(on_slack, fake, capsys):
    engine = make_engine(on_slack)
    upgrade(engine)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with make_sessions(engine).begin() as session:
        for name, channel in (
            ("A Public", "slack:C0PUBLIC"),
            ("B Member", "slack:C0MEMBER"),
            ("C Private", "slack:G0PRIVATE"),
            ("D Archived", "slack:C0OLD"),
            ("E Nowhere", None),
            ("F Typo", "C0MEMBER"),
        ):
            create_forum(session, name=name, channel=channel, now=now)
    engine.dispose()

    code, out = qi(capsys, "forum", "check")
    lines = out.splitlines()

    assert code == 1
    assert lines[0] == (
        '"A Public" (slack:C0PUBLIC): #qi-forum is public and qi-nudge is not in it yet: it '
        "joins by itself before it first posts there."
    )
    assert lines[1] == '"B Member" (slack:C0MEMBER): qi-nudge can post in #carers-forum.'
    assert lines[2].startswith('"C Private" (slack:G0PRIVATE): qi-nudge cannot see the channel')
    assert "/invite @qi-nudge" in lines[2]
    assert lines[3].startswith('"D Archived" (slack:C0OLD): #old-forum is archived')
    assert lines[4].startswith('"E Nowhere": no channel yet')
    assert lines[5].startswith('"F Typo" (C0MEMBER): "C0MEMBER" is not a Slack or Teams channel')
    assert lines[6].startswith("3 of 6 forums cannot be posted to yet.")
    assert fake.calls_to("conversations.join") == []  # checking changes nothing


def test_forum_check_with_no_forums_or_no_slack_here_is_kind(database, capsys):
    assert qi(capsys, "forum", "check") == (
        0,
        'No forums yet. Add one with: qi-nudge forum add "QI Forum" --channel slack:C0123\n',
    )
    qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0PUBLIC")

    code, out = qi(capsys, "forum", "check")

    assert code == 1
    assert "Slack is not set up here (SLACK_BOT_TOKEN), so it could not be checked." in out


def test_forum_check_on_teams_says_when_the_app_is_not_in_the_team(database, monkeypatch, capsys):
    with FakeTeams() as teams:
        for name, value in teams_env(teams).items():
            monkeypatch.setenv(name, value)
        qi(capsys, "forum", "add", "QI Forum", "--channel", f"teams:{CHANNEL_ID_QI}")

        never_added = qi(capsys, "forum", "check")
        teams.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
        present = qi(capsys, "forum", "check")
        teams.remove_bot(CHANNEL_ID_QI)
        removed = qi(capsys, "forum", "check")

    assert never_added[0] == 1
    assert "add qi-nudge to that team again" in never_added[1]
    assert present == (
        0,
        f'"QI Forum" (teams:{CHANNEL_ID_QI}): qi-nudge can post in the channel on Teams.\n',
    )
    assert removed[0] == 1
    assert "qi-nudge was removed from its team (or the channel was deleted)" in removed[1]
    assert "add qi-nudge to that team again" in removed[1]


def test_forum_check_with_slack_unreachable_says_it_could_not_check_not_that_it_cannot_post(
    on_slack, fake, capsys, monkeypatch
):
    qi(capsys, "forum", "add", "QI Forum", "--channel", "slack:C0MEMBER")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # nothing listens there

    code, out = qi(capsys, "forum", "check")

    assert code == 1  # something needs looking at, all the same
    assert out.splitlines() == [
        '"QI Forum" (slack:C0MEMBER): could not check it on Slack: could not reach Slack just now '
        "(URLError); try again later.",
        "1 of 1 forums could not be checked, so whether qi-nudge can post there is not known "
        "yet. Run qi-nudge forum check again once the platform answers (or is set up here).",
    ]


def test_forum_check_on_teams_says_when_the_tenant_admin_blocked_the_app(
    database, monkeypatch, capsys
):
    with FakeTeams() as teams:
        for name, value in teams_env(teams).items():
            monkeypatch.setenv(name, value)
        qi(capsys, "forum", "add", "QI Forum", "--channel", f"teams:{CHANNEL_ID_QI}")
        teams.fail(PAGED_MEMBERS, 403, code="BotDisabledByAdmin")

        code, out = qi(capsys, "forum", "check")

    assert code == 1
    assert "Teams administrator has blocked the qi-nudge app" in out
    assert "ask your IT team to allow it again" in out
    assert "add qi-nudge to that team again" not in out
    assert "1 of 1 forums cannot be posted to yet." in out


# --- the Slack app asks for what joining and checking need, and the README says so ---------------


def test_the_manifest_asks_for_the_scopes_to_join_and_check_channels_and_the_readme_lists_all():
    scopes = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    readme = README.read_text()
    slack_steps = readme[
        readme.index("## Putting it on Slack") : readme.index("## Putting it on Teams")
    ]

    assert {"channels:join", "channels:read", "groups:read"} <= set(scopes)
    assert [scope for scope in scopes if f"`{scope}`" not in slack_steps] == []
    assert "/invite @qi-nudge" in slack_steps and "qi-nudge forum check" in slack_steps
