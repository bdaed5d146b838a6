"""Slack end to end: a reply with a picture (a run chart) is answered in the ack, then uploaded."""

import logging
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.app import IMAGE_MOVED_TO_DM
from handlers import dispatch
from handlers.core.reply import Image, Reply, Section
from tests.bot.slack.conftest import BOT_TOKEN
from tests.fakes import block_actions_body, slash_command_body

PERSON, CHANNEL = "UCHART", "C0CHARTS1"
BUTTONS_CHANNEL = "C0BUTTONS"
PRIVATE_CHANNEL = "C0CARERS1"  # private, and nobody invited the bot
CHART = Image(
    png=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
    title="Lived experience on QI teams",
    alt_text="Run chart: projects with a service user or carer rose from 1 in 10 to 8 in 10.",
    filename="qi-run-chart.png",
)
HEADLINE = "8 of 10 active projects have a service user or carer on the team."
MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yml"


def answer_with_a_chart(ctx, actor, text) -> Reply:
    """A stand-in for /qi-stats: a headline and its run chart."""
    return Reply(sections=(Section(text=HEADLINE),), image=CHART)


@pytest.fixture(autouse=True)
def chart_command(monkeypatch):
    """/qi-chart-test and a button that answer with a chart; added before the bot is built."""
    monkeypatch.setitem(dispatch.COMMANDS, "qi-chart-test", answer_with_a_chart)
    monkeypatch.setitem(dispatch.ACTIONS, "chart_test", answer_with_a_chart)


@pytest.fixture(autouse=True)
def channels(fake_slack):
    """The channels people ask in: the bot was added to the public ones."""
    fake_slack.add_channel(CHANNEL, "qi-charts", bot_member=True)
    fake_slack.add_channel(BUTTONS_CHANNEL, "qi-buttons", bot_member=True)
    fake_slack.add_channel(PRIVATE_CHANNEL, "carers", private=True)


ASKED = iter(range(1_000_000))  # each request its own trigger_id: not a replay


def ask_for_chart(bot, fake, channel=CHANNEL):
    fake.add_user(PERSON, "Priya Shah")
    body = slash_command_body(
        "/qi-chart-test",
        "",
        user_id=PERSON,
        channel_id=channel,
        response_url=fake.response_url("chart"),
        trigger_id=f"t.chart{next(ASKED)}",
    )
    return bot.post(body)


def said_to_the_person(fake) -> str:
    return "\n".join(str(payload) for _, payload in fake.responses)


def test_the_answer_comes_in_the_ack_and_the_chart_follows_in_the_channel(slack_bot, fake_slack):
    response = ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()

    assert response.status_code == 200
    assert HEADLINE in response.json()["text"]
    (upload,) = fake_slack.uploads
    assert upload.channel_id == CHANNEL
    assert upload.content == CHART.png
    assert (upload.title, upload.alt_txt) == (CHART.title, CHART.alt_text)
    assert upload.filename == "qi-run-chart.png"
    assert upload.initial_comment is None
    assert fake_slack.responses == []  # nothing went wrong, so nothing more to say


def shared_in(fake) -> list[str | None]:
    """Where the bot tried to share a file, refused or not, in order."""
    return [call.args.get("channel_id") for call in fake.calls_to("files.completeUploadExternal")]


@pytest.mark.parametrize(
    ("channel", "error"),
    [(CHANNEL, "not_in_channel"), (PRIVATE_CHANNEL, "channel_not_found")],
    ids=["left-public", "private"],
)
def test_a_channel_the_bot_is_not_in_gets_the_chart_in_a_dm_instead(
    slack_bot, fake_slack, channel, error
):
    fake_slack.remove_bot(CHANNEL)  # someone removed it (/remove @qi-nudge)
    client = WebClient(base_url=fake_slack.base_url, token=BOT_TOKEN)
    with pytest.raises(SlackApiError) as refused:  # what Slack answers a share there
        client.files_completeUploadExternal(files=[{"id": "F0"}], channel_id=channel)

    ask_for_chart(slack_bot, fake_slack, channel)
    slack_bot.settle()

    assert refused.value.response["error"] == error
    (upload,) = fake_slack.uploads
    assert upload.channel_id == "D" + PERSON
    assert (upload.content, upload.alt_txt) == (CHART.png, CHART.alt_text)
    assert upload.initial_comment == IMAGE_MOVED_TO_DM
    assert shared_in(fake_slack)[-2:] == [channel, "D" + PERSON]  # tried there first
    assert fake_slack.files(channel) == []
    assert fake_slack.responses == []


NOT_IN_CHANNEL = {
    "method": "files.completeUploadExternal",
    "status": 200,
    "error": "not_in_channel",
}


def without_files_write(fake) -> None:
    """An app installed before it asked for files:write: Slack refuses every upload."""
    fake.add_token(BOT_TOKEN, scopes=[s for s in fake.bot_scopes if s != "files:write"])


def bot_removed_and_no_dm(fake) -> None:
    """Not in the channel, and Slack will not open a DM with the person either."""
    fake.remove_bot(CHANNEL)
    fake.fail("conversations.open", 200, error="cannot_dm")


@pytest.mark.parametrize(
    "breakages",
    [
        [without_files_write],
        [{"method": "upload_url", "status": 500}],
        [{"method": "files.completeUploadExternal", "status": 503, "times": 3}],
        [NOT_IN_CHANNEL, NOT_IN_CHANNEL],  # not in the channel, and then the DM fails too
        [bot_removed_and_no_dm],
    ],
    ids=["scope", "upload-url", "server-error", "dm-too", "no-dm"],
)
def test_when_the_chart_cannot_be_posted_the_person_is_told_kindly(
    slack_bot, fake_slack, caplog, breakages
):
    for breakage in breakages:
        if callable(breakage):
            breakage(fake_slack)
        else:
            fake_slack.fail(**breakage)

    with caplog.at_level(logging.INFO):
        response = ask_for_chart(slack_bot, fake_slack)
        slack_bot.settle()

    assert HEADLINE in response.json()["text"]
    assert fake_slack.uploads == []
    ((key, told),) = fake_slack.responses
    assert key == "chart" and told["response_type"] == "ephemeral"
    assert "couldn't post the chart" in told["text"]
    assert CHART.alt_text in told["text"]  # what it shows, all the same
    assert "qi-nudge stats --chart FILE.png" in told["text"]
    text = said_to_the_person(fake_slack)
    assert "Traceback" not in text and "Error" not in text and "HTTP" not in text
    # An expected failure is one log line, without a traceback.
    assert "image not posted" in caplog.text
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.solo  # asserts how long things take (tests/solo.py)
def test_the_ack_never_waits_for_the_upload(slack_bot, fake_slack):
    fake_slack.add_user(PERSON, "Priya Shah")  # no users.info before this ack
    fake_slack.delay("files.completeUploadExternal", 2.0)

    started = time.monotonic()
    response = ask_for_chart(slack_bot, fake_slack)
    elapsed = time.monotonic() - started
    uploaded_yet = len(fake_slack.uploads)
    slack_bot.settle()

    assert response.status_code == 200 and HEADLINE in response.json()["text"]
    assert elapsed < 1.0, elapsed
    assert uploaded_yet == 0
    assert len(fake_slack.uploads) == 1


def test_a_rate_limited_upload_waits_for_retry_after_then_posts_once(slack_bot, fake_slack):
    fake_slack.fail("files.completeUploadExternal", 429, retry_after=1)

    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()

    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 2
    assert [u.channel_id for u in fake_slack.uploads] == [CHANNEL]
    assert fake_slack.responses == []


def test_a_button_that_answers_with_a_chart_posts_it_where_it_was_pressed(slack_bot, fake_slack):
    fake_slack.add_user(PERSON, "Priya Shah")

    pressed = slack_bot.post(
        block_actions_body(
            "chart_test",
            "",
            user_id=PERSON,
            channel_id=BUTTONS_CHANNEL,
            response_url=fake_slack.response_url("button"),
        )
    )
    slack_bot.settle()

    assert pressed.status_code == 200
    ((key, answer),) = fake_slack.responses
    assert key == "button" and HEADLINE in answer["text"]
    assert [u.channel_id for u in fake_slack.uploads] == [BUTTONS_CHANNEL]


def test_the_manifest_grants_file_uploads():
    yaml = pytest.importorskip("yaml")
    scopes = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    assert "files:write" in scopes


def posted_by_reference(fake, channel=CHANNEL) -> list[dict]:
    """The image blocks the bot posted in `channel` with chat.postMessage."""
    return [
        block
        for call in fake.calls_to("chat.postMessage")
        if call.args.get("channel") == channel
        for block in call.json_arg("blocks") or []
        if block.get("type") == "image"
    ]


def test_the_same_chart_asked_for_again_in_a_channel_is_posted_by_reference(slack_bot, fake_slack):
    for _ in range(3):
        ask_for_chart(slack_bot, fake_slack)
        slack_bot.settle()

    # One upload (three Web API calls and the bytes); then one chat.postMessage each time.
    (upload,) = fake_slack.uploads
    assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 1
    again = posted_by_reference(fake_slack)
    assert [block["slack_file"] for block in again] == [{"id": upload.file_id}] * 2
    assert {block["alt_text"] for block in again} == {CHART.alt_text}
    assert {block["title"]["text"] for block in again} == {CHART.title}
    assert len(fake_slack.messages(CHANNEL)) == 2
    assert fake_slack.responses == []


def test_a_chart_is_uploaded_again_in_a_channel_it_was_not_shared_in(slack_bot, fake_slack):
    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()
    ask_for_chart(slack_bot, fake_slack, BUTTONS_CHANNEL)
    slack_bot.settle()

    # Not everyone in the second channel can see the first one's file: shared there too.
    assert [u.channel_id for u in fake_slack.uploads] == [CHANNEL, BUTTONS_CHANNEL]
    assert fake_slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("refusal", ["invalid_blocks", "file_not_found"])
def test_a_chart_by_reference_that_slack_refuses_is_uploaded_again(slack_bot, fake_slack, refusal):
    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()
    fake_slack.fail("chat.postMessage", 200, error=refusal)  # the file was deleted, say

    for _ in range(2):
        ask_for_chart(slack_bot, fake_slack)
        slack_bot.settle()

    first, second = fake_slack.uploads
    assert second.channel_id == CHANNEL and second.content == CHART.png
    # The refused file is forgotten; the new one is posted by reference next time.
    refused, again = posted_by_reference(fake_slack)
    assert refused["slack_file"] == {"id": first.file_id}
    assert again["slack_file"] == {"id": second.file_id}
    assert fake_slack.responses == []


def test_a_rate_limited_chart_by_reference_is_uploaded_instead_of_waiting(slack_bot, fake_slack):
    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()
    fake_slack.fail("chat.postMessage", 429, retry_after=5)

    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()

    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # not tried again after 5 s
    assert [u.channel_id for u in fake_slack.uploads] == [CHANNEL, CHANNEL]
    assert fake_slack.responses == []


def test_a_chart_by_reference_where_the_bot_was_removed_goes_to_the_dm(slack_bot, fake_slack):
    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()
    fake_slack.remove_bot(CHANNEL)

    ask_for_chart(slack_bot, fake_slack)
    slack_bot.settle()

    _first, moved = fake_slack.uploads
    assert moved.channel_id == "D" + PERSON
    assert moved.initial_comment == IMAGE_MOVED_TO_DM
    assert fake_slack.responses == []
