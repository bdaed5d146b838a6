"""The fake Slack, checked with the real slack_sdk clients so it answers as Slack does."""

import json
import re
import time
import types
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes import (
    FakeSlack,
    block_actions_body,
    event_body,
    slack_headers,
    slash_command_body,
    url_verification_body,
    view_submission_body,
)
from tests.fakes.slack_api import RateLimits
from tests.fakes.slack_grants import METHOD_SCOPES, SCOPELESS_METHODS
from tests.fakes.slack_signing import JSON_CONTENT_TYPE

SECRET = "shhh-signing-secret"
YES = {"type": "plain_text", "text": "Yes"}
BLOCKS = [
    {"type": "section", "block_id": "intro", "text": {"type": "mrkdwn", "text": "Hello"}},
    {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "yes", "value": "1", "text": YES}],
    },
]


# The channels these tests post in, with the bot in them (as a channel it was invited to).
CHANNELS = ("C1", "C2", "C3")


@pytest.fixture
def fake():
    with FakeSlack() as running:
        for channel in CHANNELS:
            running.add_channel(channel, f"channel-{channel.lower()}", bot_member=True)
        yield running


@pytest.fixture
def client(fake):
    return WebClient(base_url=fake.base_url, token="xoxb-test")


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


# -- answers ----------------------------------------------------------------------------------


def test_base_url_is_what_webclient_takes(fake):
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/api/")


def test_not_started_has_no_url():
    with pytest.raises(RuntimeError):
        _ = FakeSlack().base_url


def test_auth_test_names_the_bot(client, fake):
    answer = client.auth_test()

    assert answer["team_id"] == "T0001"
    assert answer["user_id"] == "UBOT"
    assert answer["bot_id"] == "BBOT"
    assert answer["url"].startswith("https://")
    assert fake.calls_to("auth.test")[0].token == "xoxb-test"


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_not_authed_and_still_recorded(fake, token):
    anonymous = WebClient(base_url=fake.base_url, token=token)

    error = error_of(lambda: anonymous.chat_postMessage(channel="C1", text="hi"))

    assert error.response["error"] == "not_authed"
    assert fake.calls_to("chat.postMessage")[0].token is None
    assert fake.messages("C1") == []


def test_conversations_open_gives_the_dm_and_remembers_it(client, fake):
    first = client.conversations_open(users="U123")
    again = client.conversations_open(users=["U123"])

    assert first["channel"]["id"] == "DU123"
    assert "already_open" not in first.data
    assert again["channel"]["id"] == "DU123"
    assert again["already_open"] is True
    assert [call.args["users"] for call in fake.calls_to("conversations.open")] == ["U123"] * 2


# -- channel membership ---------------------------------------------------------------------


def test_a_channel_slack_has_never_heard_of_is_not_found_for_every_channel_method(client, fake):
    for call in (
        lambda: client.chat_postMessage(channel="C404", text="hi"),
        lambda: client.chat_update(channel="C404", ts="1700000000.000100", text="hi"),
        lambda: client.conversations_history(channel="C404"),
        lambda: client.conversations_info(channel="C404"),
        lambda: client.conversations_join(channel="C404"),
    ):
        assert error_of(call).response["error"] == "channel_not_found"
    assert fake.messages("C404") == []


def test_a_public_channel_without_the_bot_refuses_posts_and_history_until_it_joins(client, fake):
    fake.add_channel("C0FORUM", "qi-forum")

    post = error_of(lambda: client.chat_postMessage(channel="C0FORUM", text="hi"))
    history = error_of(lambda: client.conversations_history(channel="C0FORUM"))
    info = client.conversations_info(channel="C0FORUM")["channel"]
    joined = client.conversations_join(channel="C0FORUM")
    again = client.conversations_join(channel="C0FORUM")

    assert post.response["error"] == history.response["error"] == "not_in_channel"
    assert (info["name"], info["is_private"], info["is_member"]) == ("qi-forum", False, False)
    assert joined["channel"]["id"] == "C0FORUM" and joined["channel"]["is_member"] is True
    assert "warning" not in joined.data
    assert again["warning"] == "already_in_channel"
    assert again["response_metadata"]["warnings"] == ["already_in_channel"]
    assert client.chat_postMessage(channel="C0FORUM", text="hi")["ok"] is True
    assert [m["text"] for m in fake.messages("C0FORUM")] == ["hi"]
    assert fake.bot_is_member("C0FORUM")


@pytest.mark.parametrize("channel_id", ["G0PRIVATE", "C0PRIVATE"])
def test_a_private_channel_is_invisible_until_someone_invites_the_bot(client, fake, channel_id):
    fake.add_channel(channel_id, "carers-forum", private=True)

    refused = [
        error_of(call).response["error"]
        for call in (
            lambda: client.chat_postMessage(channel=channel_id, text="hi"),
            lambda: client.conversations_history(channel=channel_id),
            lambda: client.conversations_info(channel=channel_id),
            lambda: client.conversations_join(channel=channel_id),
        )
    ]
    fake.invite_bot(channel_id)
    info = client.conversations_info(channel=channel_id)["channel"]

    # Joining: a private channel is invisible (not found); an old G "group" is the wrong kind.
    joining = (
        "channel_not_found"
        if channel_id.startswith("C")
        else ("method_not_supported_for_channel_type")
    )
    assert refused == ["channel_not_found"] * 3 + [joining]
    assert (info["is_private"], info["is_member"]) == (True, True)
    # Channels made before March 2021 have G ids and are "groups"; newer private ones are not.
    assert (info["is_channel"], info["is_group"]) == (
        (False, True) if channel_id.startswith("G") else (True, False)
    )
    assert client.chat_postMessage(channel=channel_id, text="hi")["ok"] is True
    assert len(fake.messages(channel_id)) == 1


def test_a_bot_removed_from_a_channel_can_no_longer_post_or_edit_there(client, fake):
    fake.add_channel("C0FORUM", "qi-forum", bot_member=True)
    ts = client.chat_postMessage(channel="C0FORUM", text="one")["ts"]
    fake.remove_bot("C0FORUM")

    post = error_of(lambda: client.chat_postMessage(channel="C0FORUM", text="two"))
    edit = error_of(lambda: client.chat_update(channel="C0FORUM", ts=ts, text="edited"))

    assert post.response["error"] == edit.response["error"] == "not_in_channel"
    assert [m["text"] for m in fake.messages("C0FORUM")] == ["one"]


def test_an_archived_channel_refuses_posts_and_joins_but_its_history_can_be_read(client, fake):
    fake.add_channel("C0OLD", "old-forum", bot_member=True)
    client.chat_postMessage(channel="C0OLD", text="before")
    fake.archive("C0OLD")
    fake.add_channel("C0GONE", "gone", archived=True)

    post = error_of(lambda: client.chat_postMessage(channel="C0OLD", text="after"))
    join = error_of(lambda: client.conversations_join(channel="C0GONE"))
    history = client.conversations_history(channel="C0OLD")

    assert post.response["error"] == join.response["error"] == "is_archived"
    assert client.conversations_info(channel="C0OLD")["channel"]["is_archived"] is True
    assert [m["text"] for m in history["messages"]] == ["before"]


def test_an_ephemeral_message_needs_the_bot_in_the_channel_too(client, fake):
    fake.add_channel("C0FORUM", "qi-forum")
    fake.add_channel("C0PRIVATE", "carers", private=True)

    public = error_of(lambda: client.chat_postEphemeral(channel="C0FORUM", user="U1", text="hi"))
    private = error_of(lambda: client.chat_postEphemeral(channel="C0PRIVATE", user="U1", text="hi"))
    client.conversations_join(channel="C0FORUM")
    client.chat_postEphemeral(channel="C0FORUM", user="U1", text="now")

    assert (public.response["error"], private.response["error"]) == (
        "not_in_channel",
        "channel_not_found",
    )
    assert [m["text"] for m in fake.ephemerals("C0FORUM")] == ["now"]
    assert fake.ephemerals("C0PRIVATE") == []


def test_a_file_is_shared_only_in_a_channel_the_bot_is_in(client, fake):
    fake.add_channel("C0FORUM", "qi-forum")
    fake.add_channel("C0PRIVATE", "carers", private=True)
    fake.add_channel("C0OLD", "old-forum", bot_member=True, archived=True)

    def share(channel):
        return client.files_upload_v2(file=PNG, filename="c.png", channel=channel)

    refused = {
        channel: error_of(lambda channel=channel: share(channel)).response["error"]
        for channel in ("C0FORUM", "C0PRIVATE", "C404", "C0OLD")
    }
    fake.invite_bot("C0PRIVATE")
    share("C0PRIVATE")

    assert refused == {
        "C0FORUM": "not_in_channel",
        "C0PRIVATE": "channel_not_found",
        "C404": "channel_not_found",
        "C0OLD": "is_archived",
    }
    assert [upload.channel_id for upload in fake.uploads] == ["C0PRIVATE"]


def test_a_refused_share_leaves_the_uploaded_file_to_complete_elsewhere(client, fake):
    fake.add_channel("C0FORUM", "qi-forum")
    started = client.files_getUploadURLExternal(filename="c.png", length=len(PNG))
    urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=PNG), timeout=5)
    files = [{"id": started["file_id"], "title": "c"}]

    listed = error_of(
        lambda: client.files_completeUploadExternal(files=files, channels=["C1", "C0FORUM"])
    )
    client.files_completeUploadExternal(files=files, channel_id="C1")

    assert listed.response["error"] == "not_in_channel"
    assert [upload.channel_id for upload in fake.uploads] == ["C1"]


def test_dms_and_user_ids_need_no_channel_and_cannot_be_joined(client, fake):
    dm = client.conversations_open(users="U123")["channel"]["id"]

    assert client.chat_postMessage(channel=dm, text="hi")["ok"] is True
    assert client.chat_postMessage(channel="U123", text="again")["ok"] is True
    assert error_of(lambda: client.conversations_join(channel=dm)).response["error"] == (
        "method_not_supported_for_channel_type"
    )
    assert len(fake.messages("U123")) == 2


def test_a_channel_id_of_the_wrong_kind_is_refused_when_added(fake):
    with pytest.raises(ValueError, match="public ids start with C"):
        fake.add_channel("G0NOPE", "nope")
    with pytest.raises(KeyError, match="add it first"):
        fake.invite_bot("C0UNKNOWN")


def test_post_message_answers_with_increasing_ts_and_stores_the_message(client, fake):
    metadata = {"event_type": "nudge_sent", "event_payload": {"project": 7}}

    first = client.chat_postMessage(channel="C1", text="one", blocks=BLOCKS, metadata=metadata)
    second = client.chat_postMessage(channel="C1", text="two")

    assert first["channel"] == "C1"
    assert abs(float(first["ts"]) - time.time()) < 60  # Slack's ts is the time of posting
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "one"
    assert first["message"]["blocks"] == BLOCKS
    assert first["message"]["metadata"] == metadata
    assert [m["text"] for m in fake.messages("C1")] == ["one", "two"]
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == BLOCKS


def test_post_message_to_a_user_id_lands_in_their_dm(client, fake):
    answer = client.chat_postMessage(channel="U123", text="hello")

    assert answer["channel"] == "DU123"
    assert fake.messages("DU123") == fake.messages("U123")
    assert fake.messages("U123")[0]["text"] == "hello"


def test_post_message_refuses_what_slack_refuses(client):
    with pytest.warns(UserWarning, match="text"):
        error = error_of(lambda: client.chat_postMessage(channel="C1"))
    assert error.response["error"] == "no_text"
    too_many = [{"type": "divider"}] * 51
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=too_many))
    assert error.response["error"] == "invalid_blocks"


def test_form_encoded_blocks_stay_a_string_with_a_helper_to_decode(client, fake):
    client.api_call(
        "chat.postMessage", params={"channel": "C1", "text": "x", "blocks": json.dumps(BLOCKS)}
    )

    call = fake.calls_to("chat.postMessage")[0]
    assert isinstance(call.args["blocks"], str)
    assert call.json_arg("blocks") == BLOCKS
    assert call.json_arg("text") == "x"
    assert fake.messages("C1")[0]["blocks"] == BLOCKS


def test_chat_update_changes_the_stored_message(client, fake):
    posted = client.chat_postMessage(channel="C1", text="before", blocks=BLOCKS)

    updated = client.chat_update(channel="C1", ts=posted["ts"], text="after")

    assert updated["ts"] == posted["ts"]
    assert updated["message"]["text"] == "after"
    [message] = fake.messages("C1")
    assert message["text"] == "after"
    assert message["blocks"] == BLOCKS  # Slack keeps blocks an update leaves out


def test_chat_update_of_an_unknown_ts_is_message_not_found(client):
    error = error_of(lambda: client.chat_update(channel="C1", ts="1.000000", text="x"))

    assert error.response["error"] == "message_not_found"
    assert error.response.status_code == 200


def test_post_ephemeral_answers_with_message_ts(client, fake):
    answer = client.chat_postEphemeral(channel="C1", user="U123", text="only you")

    assert answer["message_ts"]
    assert fake.ephemerals("C1")[0]["user"] == "U123"
    assert fake.messages("C1") == []


def test_views_open_needs_a_trigger_id(client, fake):
    view = {"type": "modal", "callback_id": "join", "title": YES, "blocks": BLOCKS}

    answer = client.views_open(trigger_id=fake.new_trigger_id(), view=view)
    error = error_of(lambda: client.api_call("views.open", json={"view": view}))

    assert answer["view"]["id"].startswith("V")
    assert answer["view"]["callback_id"] == "join"
    assert answer["view"]["state"] == {"values": {}}
    assert error.response["error"] == "invalid_arguments"


def test_views_publish_keeps_the_last_home_per_user(client, fake):
    client.views_publish(user_id="U123", view={"type": "home", "blocks": BLOCKS[:1]})
    answer = client.views_publish(user_id="U123", view={"type": "home", "blocks": BLOCKS})

    assert answer["view"]["type"] == "home"
    assert fake.home("U123")["blocks"] == BLOCKS
    assert fake.home("U123")["id"] == answer["view"]["id"]
    assert fake.home("U999") is None


def test_users_info_answers_as_slack_does(client, fake):
    fake.add_user("U123", "Ben Lee", email="ben@nhs.net")
    fake.add_user("U456", "Asha")

    ben = client.users_info(user="U123")["user"]
    asha = client.users_info(user="U456")["user"]

    assert (ben["id"], ben["team_id"], ben["real_name"], ben["is_bot"]) == (
        "U123",
        "T0001",
        "Ben Lee",
        False,
    )
    assert ben["profile"]["display_name"] == "Ben Lee"
    assert ben["profile"]["email"] == "ben@nhs.net"
    assert "email" not in asha["profile"]
    assert error_of(lambda: client.users_info(user="U0")).response["error"] == "user_not_found"


def test_users_lookup_by_email_ignores_case(client, fake):
    fake.add_user("U123", "Ben", email="Ben.Lee@nhs.net")

    assert client.users_lookupByEmail(email="ben.lee@NHS.NET")["user"]["id"] == "U123"
    error = error_of(lambda: client.users_lookupByEmail(email="nobody@nhs.net"))
    assert error.response["error"] == "users_not_found"


def test_history_is_newest_first_with_oldest_limit_and_metadata(client, fake):
    metadata = {"event_type": "nudge_sent", "event_payload": {"n": 1}}
    first = client.chat_postMessage(channel="C1", text="one", metadata=metadata)
    client.chat_postMessage(channel="C1", text="two")
    client.chat_postMessage(channel="C1", text="three")
    client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])

    everything = client.conversations_history(channel="C1", include_all_metadata=True)
    recent = client.conversations_history(channel="C1", oldest=first["ts"], limit=1)
    plain = client.conversations_history(channel="C1")

    assert [m["text"] for m in everything["messages"]] == ["three", "two", "one"]
    assert everything["messages"][-1]["metadata"] == metadata
    assert [m["text"] for m in recent["messages"]] == ["three"]
    assert recent["has_more"] is True
    assert all("metadata" not in m for m in plain["messages"])


def test_history_pages_with_cursors(client):
    for n in range(5):
        client.chat_postMessage(channel="C1", text=str(n))

    pages = client.conversations_history(channel="C1", limit=2)

    assert [m["text"] for page in pages for m in page["messages"]] == ["4", "3", "2", "1", "0"]


def test_history_pages_back_to_oldest_by_cursor_and_a_new_message_shifts_no_page(client, fake):
    fake.wall_clock = lambda: 1_800_000_000.0
    client.chat_postMessage(channel="C1", text="before")
    fake.wall_clock = lambda: 1_800_000_100.0
    for n in range(5):
        client.chat_postMessage(channel="C1", text=str(n))

    first = client.conversations_history(channel="C1", oldest="1800000050", limit=2)
    client.chat_postMessage(channel="C1", text="late")
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_history(channel="C1", oldest="1800000050", limit=2, cursor=cursor)
    last = client.conversations_history(
        channel="C1",
        oldest="1800000050",
        limit=2,
        cursor=second["response_metadata"]["next_cursor"],
    )

    assert [m["text"] for m in first["messages"]] == ["4", "3"]
    assert [m["text"] for m in second["messages"]] == ["2", "1"]
    assert [m["text"] for m in last["messages"]] == ["0"]
    assert first["has_more"] is second["has_more"] is True
    assert last["has_more"] is False and "response_metadata" not in last
    refused = error_of(lambda: client.conversations_history(channel="C1", cursor="%%%"))
    assert refused.response["error"] == "invalid_cursor"


def test_unknown_method_is_recorded(client, fake):
    error = error_of(lambda: client.api_call("reactions.add", json={"name": "tada"}))

    assert error.response["error"] == "unknown_method"
    assert fake.calls_to("reactions.add")[0].args == {"name": "tada"}


def test_get_with_query_and_form_token_are_read_too(fake):
    fake.add_user("U123", "Ben")
    fake.add_token("xoxb-get")
    fake.add_token("xoxb-form")
    request = urllib.request.Request(
        fake.base_url + "users.info?user=U123",
        headers={"Authorization": "Bearer xoxb-get"},
    )
    with urllib.request.urlopen(request, timeout=2) as response:
        got = json.loads(response.read())
    form = urllib.request.Request(fake.base_url + "auth.test", data=b"token=xoxb-form")
    with urllib.request.urlopen(form, timeout=2) as response:
        authed = json.loads(response.read())

    assert got["user"]["id"] == "U123"
    assert authed["ok"] is True
    assert [(c.method, c.args, c.token) for c in fake.calls] == [
        ("users.info", {"user": "U123"}, "xoxb-get"),
        ("auth.test", {}, "xoxb-form"),
    ]


# -- misbehaviour -----------------------------------------------------------------------------


def test_429_comes_back_with_retry_after_then_recovers(client, fake):
    fake.fail("chat.postMessage", 429, retry_after=7)

    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    client.chat_postMessage(channel="C1", text="x")

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert len(fake.messages("C1")) == 1
    assert len(fake.calls_to("chat.postMessage")) == 2


def test_rate_limit_retry_handler_waits_and_succeeds(fake, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", types.SimpleNamespace(sleep=slept.append))
    patient = WebClient(
        base_url=fake.base_url, token="xoxb-test", retry_handlers=[RateLimitErrorRetryHandler()]
    )
    fake.fail("chat.postMessage", 429, retry_after=3)

    answer = patient.chat_postMessage(channel="C1", text="x")

    assert answer["ok"] is True
    assert len(fake.calls_to("chat.postMessage")) == 2
    assert 3 <= slept[0] < 4


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_come_back_with_a_body(client, fake, status):
    fake.fail("users.info", status, times=2)

    errors = [error_of(lambda: client.users_info(user="UBOT")) for _ in range(2)]

    assert [e.response.status_code for e in errors] == [status, status]
    assert errors[0].response["error"] == "fatal_error"
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True


def test_error_answers_200_ok_false(client, fake):
    fake.fail("chat.postMessage", 200, error="channel_not_found")

    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))

    assert error.response.status_code == 200
    assert error.response["error"] == "channel_not_found"


def test_fail_needs_a_failure():
    with pytest.raises(ValueError):
        FakeSlack().fail("chat.postMessage", 200)


def test_delay_times_the_client_out_yet_slack_still_posts(fake):
    impatient = WebClient(base_url=fake.base_url, token="xoxb-test", timeout=0.1)
    fake.delay("chat.postMessage", 0.3)

    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="late")

    assert len(fake.calls_to("chat.postMessage")) == 1  # the default handlers do not retry
    assert fake.wait_for(lambda: len(fake.messages("C1")) == 1, timeout=2)
    assert impatient.chat_postMessage(channel="C1", text="prompt")["ok"] is True


def test_close_wakes_delayed_answers():
    fake = FakeSlack().start()
    fake.delay("auth.test", 30)
    client = WebClient(base_url=fake.base_url, token="xoxb-test", timeout=0.1)
    with pytest.raises(TimeoutError):
        client.auth_test()

    started = time.monotonic()
    fake.close()
    fake.close()

    assert time.monotonic() - started < 1


def test_stall_after_posts_first_then_keeps_the_caller_waiting(fake):
    impatient = WebClient(base_url=fake.base_url, token="xoxb-test", timeout=0.3)
    stalled = fake.stall_after("chat.postMessage", 30)
    assert not stalled.is_set()

    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="posted, never answered")

    assert stalled.is_set()
    assert [m["text"] for m in fake.messages("C1")] == ["posted, never answered"]
    assert impatient.chat_postMessage(channel="C1", text="prompt")["ok"] is True
    started = time.monotonic()
    fake.close()  # wakes the stalled answer too
    assert time.monotonic() - started < 1


def test_twenty_concurrent_calls_are_all_recorded(client, fake):
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda n: client.chat_postMessage(channel="C1", text=str(n)), range(20))
        )

    assert len({answer["ts"] for answer in answers}) == 20
    assert len(fake.calls_to("chat.postMessage")) == 20
    assert sorted(int(m["text"]) for m in fake.messages("C1")) == list(range(20))


# -- rate limits ------------------------------------------------------------------------------


class Monotonic:
    """A monotonic clock for the rate limiter that moves only when told (or slept on)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def monotonic():
    return Monotonic()


def post(client, channel, text="x"):
    """Post and answer (HTTP status, Retry-After header or None)."""
    try:
        client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as error:
        return error.response.status_code, error.response.headers.get("Retry-After")
    return 200, None


def test_rate_limits_are_off_unless_asked_for(client, fake):
    answers = [post(client, "C1") for _ in range(30)]

    assert answers == [(200, None)] * 30
    assert fake.rate_limits is None
    assert fake.rate_limited == {}


def test_a_burst_to_one_channel_is_answered_429_with_retry_after(client, fake, monotonic):
    fake.enforce_rate_limits(RateLimits(post_burst=3), clock=monotonic)

    answers = [post(client, "C1", str(n)) for n in range(5)]
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="again"))

    assert answers == [(200, None)] * 3 + [(429, "1")] * 2
    assert error.response["error"] == "ratelimited"
    assert [m["text"] for m in fake.messages("C1")] == ["0", "1", "2"]
    assert len(fake.calls_to("chat.postMessage")) == 6  # refused calls are still recorded
    assert fake.rate_limited == {"chat.postMessage": 3}


def test_retry_after_is_whole_seconds_rounded_up(client, fake, monotonic):
    fake.enforce_rate_limits(
        RateLimits(post_per_channel_per_second=0.3, post_burst=1), clock=monotonic
    )
    post(client, "C1")

    assert post(client, "C1") == (429, "4")  # a token every 3.33 s
    monotonic.sleep(3)
    assert post(client, "C1") == (429, "1")
    monotonic.sleep(1)
    assert post(client, "C1") == (200, None)


def test_channels_are_limited_independently_and_a_user_id_is_their_dm(client, fake, monotonic):
    fake.enforce_rate_limits(RateLimits(post_burst=2), clock=monotonic)

    first = [post(client, channel) for channel in ("C1", "C1", "C1", "C2", "C2", "U7", "DU7")]

    assert [status for status, _ in first] == [200, 200, 429, 200, 200, 200, 200]
    assert post(client, "U7") == (429, "1")  # "U7" posts in "DU7": one channel, one bucket
    assert len(fake.messages("C2")) == 2
    assert len(fake.messages("DU7")) == 2


def test_after_waiting_retry_after_the_call_succeeds(client, fake):
    fake.enforce_rate_limits(RateLimits(post_burst=1))  # the real clock: this test sleeps 1 s
    assert post(client, "C1") == (200, None)
    status, retry_after = post(client, "C1")
    assert (status, retry_after) == (429, "1")

    time.sleep(int(retry_after))

    assert post(client, "C1") == (200, None)
    assert len(fake.messages("C1")) == 2


def test_the_workspace_limit_spans_channels_and_spares_their_own_buckets(client, fake, monotonic):
    fake.enforce_rate_limits(
        RateLimits(
            post_per_channel_per_second=0.1,  # a channel refills far slower than the workspace
            post_burst=1,
            workspace_posts_per_minute=30,
            workspace_burst=2,
        ),
        clock=monotonic,
    )

    answers = [post(client, channel) for channel in ("C1", "C2", "C3")]
    monotonic.sleep(1.5)  # the workspace refills at one message every 2 s
    still = post(client, "C3")
    monotonic.sleep(0.5)
    refusal_took_no_token = post(client, "C3")  # C3's own bucket was untouched by the 429s

    assert answers == [(200, None), (200, None), (429, "2")]
    assert still == (429, "1")
    assert refusal_took_no_token == (200, None)
    assert fake.messages("C3") != []


def test_conversations_open_is_limited_per_minute_and_remembers_nothing_refused(
    client, fake, monotonic
):
    fake.enforce_rate_limits(RateLimits(open_per_minute=50, open_burst=2), clock=monotonic)
    client.conversations_open(users="U1")
    client.conversations_open(users="U2")

    error = error_of(lambda: client.conversations_open(users="U3"))
    monotonic.sleep(int(error.response.headers["Retry-After"]))
    opened = client.conversations_open(users="U3")

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "2"  # one every 1.2 s, rounded up
    assert "already_open" not in opened.data  # the refused call opened nothing
    assert post(client, "C1") == (200, None)  # posting has limits of its own
    assert fake.rate_limited == {"conversations.open": 1}


def test_concurrent_calls_never_share_a_last_token(client, fake, monotonic):
    fake.enforce_rate_limits(RateLimits(post_burst=3), clock=monotonic)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda n: post(client, "C1", str(n)), range(20)))

    assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 17
    assert len(fake.messages("C1")) == 3
    assert fake.rate_limited["chat.postMessage"] == 17


def test_slack_sdks_retry_handler_waits_out_the_limits_and_posts_each_message_once(
    fake, monotonic, monkeypatch
):
    # slack_sdk's retry handler sleeps Retry-After plus up to 1 s; here sleeping moves the clock.
    monkeypatch.setattr(builtin_handlers, "time", types.SimpleNamespace(sleep=monotonic.sleep))
    patient = WebClient(
        base_url=fake.base_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
    )
    limits = fake.enforce_rate_limits(RateLimits(post_burst=3), clock=monotonic)
    started = monotonic.now

    for n in range(8):
        patient.chat_postMessage(channel="C1", text=str(n))

    assert [m["text"] for m in fake.messages("C1")] == [str(n) for n in range(8)]
    assert monotonic.now - started >= limits.floor_seconds([8]) == 5
    assert fake.rate_limited["chat.postMessage"] >= 1


def test_floor_is_the_slowest_of_the_limits():
    limits = RateLimits(
        post_per_channel_per_second=1, post_burst=3, workspace_posts_per_minute=600,
        workspace_burst=10, open_per_minute=50, open_burst=5,
    )  # fmt: skip

    assert limits.floor_seconds([1] * 2000) == pytest.approx(199.0)  # (2000 - 10) / 10 a second
    assert limits.floor_seconds([1] * 200, opens=200) == pytest.approx(234.0)  # (200 - 5) / (50/60)
    assert limits.floor_seconds([13]) == 10.0  # one channel: (13 - 3) / 1
    assert RateLimits(workspace_posts_per_minute=None).floor_seconds([1] * 5000) == 0.0


@pytest.mark.parametrize(
    "limits",
    [
        {"post_per_channel_per_second": 0},
        {"open_per_minute": -1},
        {"post_burst": 0},
        {"workspace_burst": 0},
    ],
)
def test_rate_limits_refuse_nonsense(limits):
    with pytest.raises(ValueError):
        RateLimits(**limits)


# -- files ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\nfake chart"


def test_files_upload_v2_goes_through_the_three_steps_and_is_recorded(client, fake):
    answer = client.files_upload_v2(
        file=PNG,
        filename="run-chart.png",
        title="Run chart",
        alt_txt="A line rising from 1 in 10 to 8 in 10",
        channel="C1",
        initial_comment="Here it is",
    )

    assert answer["file"]["title"] == "Run chart"
    assert answer["file"]["mimetype"] == "image/png"
    (upload,) = fake.uploads
    assert upload == fake.files("C1")[0]
    assert upload.file_id == answer["file"]["id"]
    assert (upload.content, upload.filename, upload.title) == (PNG, "run-chart.png", "Run chart")
    assert upload.alt_txt == "A line rising from 1 in 10 to 8 in 10"
    assert (upload.channel_id, upload.initial_comment) == ("C1", "Here it is")
    # As slack_sdk sends them: the alt text with the URL request, `files` as a JSON string.
    (asked,) = fake.calls_to("files.getUploadURLExternal")
    assert asked.args == {
        "filename": "run-chart.png",
        "length": str(len(PNG)),
        "alt_txt": "A line rising from 1 in 10 to 8 in 10",
    }
    (completed,) = fake.calls_to("files.completeUploadExternal")
    assert json.loads(completed.args["files"]) == [{"id": upload.file_id, "title": "Run chart"}]
    assert completed.json_arg("files")[0]["id"] == upload.file_id


def test_the_upload_url_points_back_at_the_fake_and_takes_multipart_too(client, fake):
    started = client.files_getUploadURLExternal(filename="c.png", length=len(PNG))
    assert started["upload_url"] == f"{fake.root_url}/upload/{started['file_id']}"
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="filename"; filename="c.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--XyZ--\r\n"
    )
    request = urllib.request.Request(
        started["upload_url"],
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert (answer.status, answer.read()) == (200, f"OK - {len(PNG)}".encode())

    client.files_completeUploadExternal(files=[{"id": started["file_id"]}])

    (upload,) = fake.uploads
    assert (upload.content, upload.title, upload.alt_txt) == (PNG, "c.png", None)
    assert upload.channel_id is None  # no channel: the file stays private
    assert fake.files("C1") == []


def test_a_file_shared_in_a_dm_is_found_by_the_user_id(client, fake):
    dm = client.conversations_open(users="U1")["channel"]["id"]

    client.files_upload_v2(file=PNG, filename="c.png", channel=dm)

    assert [u.channel_id for u in fake.files("U1")] == ["DU1"]


def test_complete_refuses_a_user_id_an_unsent_file_and_a_second_completion(client, fake):
    started = client.files_getUploadURLExternal(filename="c.png", length=len(PNG))
    files = [{"id": started["file_id"], "title": "c"}]

    not_sent = error_of(lambda: client.files_completeUploadExternal(files=files, channel_id="C1"))
    urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=PNG), timeout=5)
    user_id = error_of(lambda: client.files_completeUploadExternal(files=files, channel_id="U1"))
    client.files_completeUploadExternal(files=files, channel_id="C1")
    again = error_of(lambda: client.files_completeUploadExternal(files=files, channel_id="C1"))

    assert not_sent.response["error"] == "file_not_found"
    assert user_id.response["error"] == "invalid_arguments"
    assert again.response["error"] == "file_not_found"
    assert len(fake.uploads) == 1


def test_get_upload_url_refuses_what_slack_refuses(client):
    long_alt = error_of(
        lambda: client.files_getUploadURLExternal(filename="c.png", length=3, alt_txt="x" * 1001)
    )
    empty = error_of(lambda: client.files_getUploadURLExternal(filename="c.png", length=0))

    assert long_alt.response["error"] == "alt_txt_too_large"
    assert empty.response["error"] == "missing_argument"


def test_fail_targets_each_step_of_an_upload_and_nothing_is_shared(client, fake):
    fake.fail("files.completeUploadExternal", 200, error="not_in_channel")
    fake.fail("upload_url", 500)
    fake.fail("files.getUploadURLExternal", 429, retry_after=2)

    def upload():
        return client.files_upload_v2(file=PNG, filename="c.png", channel="C1")

    limited = error_of(upload)
    with pytest.raises(urllib.error.HTTPError) as refused:
        upload()
    not_in_channel = error_of(upload)
    upload()

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "2"
    assert refused.value.code == 500
    assert not_in_channel.response["error"] == "not_in_channel"
    assert len(fake.uploads) == 1  # only the last one
    assert len(fake.calls_to("files.getUploadURLExternal")) == 4


# -- response URLs ----------------------------------------------------------------------------


def test_response_url_records_what_was_posted(fake):
    answer = WebhookClient(fake.response_url("r7")).send(text="done", replace_original=True)

    assert answer.status_code == 200
    assert answer.body == "ok"
    assert fake.responses == [("r7", {"text": "done", "replace_original": True})]
    assert fake.calls == []


def test_a_response_url_slack_never_issued_is_not_found(fake):
    made_up = WebhookClient(f"{fake.root_url}/hooks/T0001/made-up")

    answer = made_up.send(text="hello")

    assert (answer.status_code, answer.body) == (404, "no_service")
    assert fake.responses == []


def test_response_url_can_fail(fake):
    fake.fail("response_url", 404, error="expired_url")

    answer = WebhookClient(fake.response_url()).send(text="late")

    assert (answer.status_code, answer.body) == (404, "expired_url")
    assert fake.responses == []


# -- signing and payloads ---------------------------------------------------------------------


def test_signed_headers_pass_slack_sdk_verification():
    body = slash_command_body("/qi-join", "Sepsis")
    headers = slack_headers(body, SECRET)

    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    stale = slack_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert not SignatureVerifier(SECRET).is_valid_request(body, stale)


def test_signed_headers_carry_retries_and_content_type():
    headers = slack_headers(
        b"{}", SECRET, timestamp=1, content_type=JSON_CONTENT_TYPE, retry_num=1, retry_reason="x"
    )

    assert headers["X-Slack-Request-Timestamp"] == "1"
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert headers["Content-Type"] == JSON_CONTENT_TYPE
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("1", "x")


def test_payloads_have_slacks_wire_format():
    command = {k: v[0] for k, v in parse_qs(slash_command_body("/qi", "join x").decode()).items()}
    action = json.loads(parse_qs(block_actions_body("rsvp_yes", "42").decode())["payload"][0])
    submission = json.loads(
        parse_qs(view_submission_body("join", {"b": {"a": {"type": "x"}}}).decode())["payload"][0]
    )
    event = json.loads(event_body({"type": "app_home_opened", "user": "U123"}))

    assert (command["command"], command["text"], command["user_id"]) == ("/qi", "join x", "U123")
    assert action["type"] == "block_actions"
    assert action["actions"][0]["action_id"] == "rsvp_yes"
    assert action["actions"][0]["value"] == "42"
    assert action["user"]["team_id"] == "T0001"
    assert action["container"]["channel_id"] == action["channel"]["id"]
    assert submission["view"]["state"]["values"] == {"b": {"a": {"type": "x"}}}
    assert (event["type"], event["event"]["user"]) == ("event_callback", "U123")
    assert json.loads(url_verification_body("c1"))["challenge"] == "c1"


def test_bolt_accepts_the_signed_payloads_and_talks_to_the_fake(fake):
    app = App(
        token="xoxb-test",
        signing_secret=SECRET,
        client=WebClient(base_url=fake.base_url, token="xoxb-test"),
    )
    seen: list[str] = []

    def handle_join(ack, command, respond):
        ack()
        seen.append(command["text"])
        respond("joined")

    def handle_rsvp(ack, body):
        ack()
        seen.append(body["actions"][0]["value"])

    def handle_home(event):
        seen.append(event["user"])

    app.command("/qi-join")(handle_join)
    app.action("rsvp_yes")(handle_rsvp)
    app.event("app_home_opened")(handle_home)

    def dispatch(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> int:
        headers = slack_headers(body, SECRET, content_type=content_type)
        return app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status

    statuses = [
        dispatch(slash_command_body("/qi-join", "Sepsis", response_url=fake.response_url())),
        dispatch(block_actions_body("rsvp_yes", "42", response_url=fake.response_url("r2"))),
        dispatch(event_body({"type": "app_home_opened", "user": "U9"}), JSON_CONTENT_TYPE),
    ]

    assert statuses == [200, 200, 200]
    assert fake.wait_for(lambda: len(seen) == 3 and len(fake.responses) == 1)
    assert sorted(seen) == sorted(["Sepsis", "42", "U9"])
    assert fake.responses[0][1]["text"] == "joined"
    assert fake.calls_to("auth.test")


# -- what Slack refuses in a message ----------------------------------------------------------

DIVIDER = {"type": "divider"}


def plain(text):
    return {"type": "plain_text", "text": text}


def mrkdwn(text):
    return {"type": "mrkdwn", "text": text}


def section(text):
    return {"type": "section", "text": mrkdwn(text)}


def button(text="Go", **extra):
    return {"type": "button", "text": plain(text), "action_id": "go", **extra}


def actions(*elements):
    return {"type": "actions", "elements": list(elements)}


def option(text="One", value="1"):
    return {"text": plain(text), "value": value}


def select(options, **extra):
    return {"type": "static_select", "action_id": "pick", "options": options, **extra}


def text_input(**extra):
    element = {"type": "plain_text_input", "action_id": "typed", **extra}
    return {"type": "input", "block_id": "note", "label": plain("Note"), "element": element}


def chars(limit):
    return f"must be less than {limit + 1} characters"


def items(limit):
    return f"no more than {limit} items allowed"


def refused(limit, pointer, problem):
    """Slack's problem report for one over `limit`, as its `errors` list has it."""
    return f"{problem(limit)} [json-pointer:{pointer}]"


# (limit, the blocks with n of something, where Slack points, what it says)
MESSAGE_LIMITS = [
    pytest.param(50, lambda n: [DIVIDER] * n, "/blocks", items, id="blocks in a message"),
    pytest.param(
        3000, lambda n: [section("x" * n)], "/blocks/0/text/text", chars, id="section text"
    ),
    pytest.param(
        10,
        lambda n: [{"type": "section", "fields": [mrkdwn("f")] * n}],
        "/blocks/0/fields",
        items,
        id="section fields",
    ),
    pytest.param(
        2000,
        lambda n: [{"type": "section", "fields": [mrkdwn("x" * n)]}],
        "/blocks/0/fields/0/text",
        chars,
        id="section field text",
    ),
    pytest.param(
        150,
        lambda n: [{"type": "header", "text": plain("x" * n)}],
        "/blocks/0/text/text",
        chars,
        id="header text",
    ),
    pytest.param(
        75,
        lambda n: [actions(button("x" * n))],
        "/blocks/0/elements/0/text/text",
        chars,
        id="button text",
    ),
    pytest.param(
        2000,
        lambda n: [actions(button(value="v" * n))],
        "/blocks/0/elements/0/value",
        chars,
        id="button value",
    ),
    pytest.param(
        3000,
        lambda n: [actions(button(url="https://nhs.uk/" + "u" * (n - 15)))],
        "/blocks/0/elements/0/url",
        chars,
        id="button url",
    ),
    pytest.param(
        255,
        lambda n: [actions(button(action_id="a" * n))],
        "/blocks/0/elements/0/action_id",
        chars,
        id="action_id",
    ),
    pytest.param(
        255,
        lambda n: [{"type": "divider", "block_id": "b" * n}],
        "/blocks/0/block_id",
        chars,
        id="block_id",
    ),
    pytest.param(
        25,
        lambda n: [actions(*[button(action_id=f"go{i}") for i in range(n)])],
        "/blocks/0/elements",
        items,
        id="elements in an actions block",
    ),
    pytest.param(
        10,
        lambda n: [{"type": "context", "elements": [mrkdwn("c")] * n}],
        "/blocks/0/elements",
        items,
        id="elements in a context block",
    ),
    pytest.param(
        75,
        lambda n: [actions(select([option("o" * n)]))],
        "/blocks/0/elements/0/options/0/text/text",
        chars,
        id="option text",
    ),
    pytest.param(
        150,
        lambda n: [actions(select([option(value="v" * n)]))],
        "/blocks/0/elements/0/options/0/value",
        chars,
        id="option value",
    ),
    pytest.param(
        100,
        lambda n: [actions(select([option(f"o{i}", str(i)) for i in range(n)]))],
        "/blocks/0/elements/0/options",
        items,
        id="options in a select",
    ),
    pytest.param(
        10,
        lambda n: [
            actions(
                {
                    "type": "checkboxes",
                    "action_id": "tick",
                    "options": [option(f"o{i}", str(i)) for i in range(n)],
                }
            )
        ],
        "/blocks/0/elements/0/options",
        items,
        id="checkbox options",
    ),
    pytest.param(
        150,
        lambda n: [actions(select([option()], placeholder=plain("p" * n)))],
        "/blocks/0/elements/0/placeholder/text",
        chars,
        id="placeholder",
    ),
    pytest.param(
        2000,
        lambda n: [{"type": "image", "image_url": "https://nhs.uk/c.png", "alt_text": "a" * n}],
        "/blocks/0/alt_text",
        chars,
        id="image alt text",
    ),
    pytest.param(
        2000,
        lambda n: [{**text_input(), "label": plain("l" * n)}],
        "/blocks/0/label/text",
        chars,
        id="input label",
    ),
    pytest.param(
        3000,
        lambda n: [text_input(max_length=n)],
        "/blocks/0/element/max_length",
        lambda limit: f"must be less than {limit + 1}",
        id="plain_text_input max_length",
    ),
]


@pytest.mark.parametrize(("limit", "blocks", "pointer", "problem"), MESSAGE_LIMITS)
def test_a_message_at_slacks_limit_posts_and_one_over_is_invalid_blocks(
    client, fake, limit, blocks, pointer, problem
):
    client.chat_postMessage(channel="C1", text="fits", blocks=blocks(limit))

    error = error_of(
        lambda: client.chat_postMessage(channel="C1", text="no", blocks=blocks(limit + 1))
    )

    assert error.response.status_code == 200
    assert error.response["error"] == "invalid_blocks"
    assert refused(limit, pointer, problem) in error.response["errors"]
    messages = error.response["response_metadata"]["messages"]
    assert f"[ERROR] {refused(limit, pointer, problem)}" in messages
    assert [m["text"] for m in fake.messages("C1")] == ["fits"]


def test_slacks_answer_to_a_long_section_is_word_for_word(client):
    error = error_of(
        lambda: client.chat_postMessage(channel="C1", text="x", blocks=[section("x" * 3001)])
    )

    assert error.response.data == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": [
            "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ],
        "response_metadata": {
            "messages": [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
            ]
        },
    }


def test_update_and_ephemeral_refuse_the_same_blocks(client, fake):
    posted = client.chat_postMessage(channel="C1", text="before", blocks=[section("ok")])
    too_long = [section("x" * 3001)]

    update = error_of(
        lambda: client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=too_long)
    )
    ephemeral = error_of(
        lambda: client.chat_postEphemeral(channel="C1", user="U1", text="x", blocks=too_long)
    )
    client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=[section("x" * 3000)])

    assert update.response["error"] == ephemeral.response["error"] == "invalid_blocks"
    assert fake.ephemerals("C1") == []
    assert fake.messages("C1")[0]["blocks"] == [section("x" * 3000)]


def test_top_level_text_is_at_most_forty_thousand_characters(client, fake):
    client.chat_postMessage(channel="C1", text="x" * 40_000)

    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x" * 40_001))

    assert error.response["error"] == "msg_too_long"
    assert len(fake.messages("C1")) == 1


def test_blocks_text_over_eleven_thousand_characters_is_msg_blocks_too_long(client, fake):
    # Every text object counts: sections, fields, headers, buttons.
    at_limit = [
        {"type": "header", "text": plain("h" * 100)},
        section("x" * 3000),
        section("x" * 3000),
        section("x" * 3000),
        {"type": "section", "fields": [mrkdwn("f" * 1000), mrkdwn("f" * 890)]},
        actions(button("b" * 10)),
    ]
    one_over = [*at_limit[:-1], actions(button("b" * 11))]

    client.chat_postMessage(channel="C1", text="fits", blocks=at_limit)
    posted = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=one_over))
    ephemeral = error_of(
        lambda: client.chat_postEphemeral(channel="C1", user="U1", text="x", blocks=one_over)
    )
    ts = fake.messages("C1")[0]["ts"]
    update = error_of(lambda: client.chat_update(channel="C1", ts=ts, text="x", blocks=one_over))
    answer = WebhookClient(fake.response_url()).send(text="x", blocks=one_over)

    errors = {posted.response["error"], ephemeral.response["error"], update.response["error"]}
    assert errors == {"msg_blocks_too_long"}
    assert posted.response.data == {"ok": False, "error": "msg_blocks_too_long"}
    assert (answer.status_code, answer.body) == (400, "msg_blocks_too_long")
    assert [m["blocks"] for m in fake.messages("C1")] == [at_limit]
    assert fake.ephemerals("C1") == [] and fake.responses == []


def test_slack_sdks_own_validators_are_consulted_too(client):
    def confirming(title_length):
        confirm = {
            "title": plain("t" * title_length),
            "text": plain("Sure?"),
            "confirm": plain("Yes"),
            "deny": plain("No"),
        }
        return [actions(button(confirm=confirm))]

    client.chat_postMessage(channel="C1", text="x", blocks=confirming(100))
    error = error_of(
        lambda: client.chat_postMessage(channel="C1", text="x", blocks=confirming(101))
    )

    # Not one of the limits walked here: slack_sdk's ConfirmObject says it.
    assert error.response["errors"] == [
        "title attribute cannot exceed 100 characters [json-pointer:/blocks/0]"
    ]


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        pytest.param(
            [{"type": "sectoin", "text": mrkdwn("x")}],
            "unsupported block type: sectoin [json-pointer:/blocks/0/type]",
            id="unknown block type",
        ),
        pytest.param(
            [{"type": "section", "text": {**mrkdwn("x"), "emoji": True}}],
            "invalid additional property: emoji [json-pointer:/blocks/0/text]",
            id="emoji on mrkdwn",
        ),
        pytest.param(
            [section("")],
            "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
            id="empty text",
        ),
        pytest.param(
            [{"type": "header", "text": mrkdwn("*Head*")}],
            "must be one of: plain_text [json-pointer:/blocks/0/text/type]",
            id="mrkdwn header",
        ),
        pytest.param(
            [{**section("a"), "block_id": "b"}, {**section("b"), "block_id": "b"}],
            "duplicate block_id: b [json-pointer:/blocks/1/block_id]",
            id="block_id twice in a message",
        ),
        pytest.param(
            [actions(button(), button())],
            "duplicate action_id: go [json-pointer:/blocks/0/elements/1/action_id]",
            id="action_id twice in a block",
        ),
        pytest.param(
            [{"type": "actions", "elements": []}],
            "missing required field: elements [json-pointer:/blocks/0]",
            id="empty actions",
        ),
    ],
)
def test_malformed_blocks_are_invalid_blocks(client, blocks, problem):
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=blocks))

    assert error.response["error"] == "invalid_blocks"
    assert problem in error.response["errors"]


def test_an_action_id_may_repeat_in_another_block(client, fake):
    client.chat_postMessage(channel="C1", text="x", blocks=[actions(button()), actions(button())])

    assert len(fake.messages("C1")) == 1


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"event_payload": {"key": "k"}}, "invalid_metadata_schema"),
        ({"event_type": "qi_nudge", "event_payload": "k"}, "invalid_metadata_schema"),
        ("not json", "invalid_metadata_format"),
    ],
)
def test_metadata_needs_an_event_type_and_a_payload_object(client, fake, metadata, error):
    refusal = error_of(
        lambda: client.api_call(
            "chat.postMessage", json={"channel": "C1", "text": "x", "metadata": metadata}
        )
    )

    assert refusal.response["error"] == error
    assert fake.messages("C1") == []


# -- what Slack refuses in a view -------------------------------------------------------------


def modal(**fields):
    return {"type": "modal", "title": plain("Join"), "blocks": [section("Hi")], **fields}


# (limit, the view with n of something, where Slack points, what it says)
VIEW_LIMITS = [
    pytest.param(
        100, lambda n: modal(blocks=[DIVIDER] * n), "/view/blocks", items, id="blocks in a modal"
    ),
    pytest.param(24, lambda n: modal(title=plain("t" * n)), "/view/title/text", chars, id="title"),
    pytest.param(
        24, lambda n: modal(submit=plain("s" * n)), "/view/submit/text", chars, id="submit"
    ),
    pytest.param(24, lambda n: modal(close=plain("c" * n)), "/view/close/text", chars, id="close"),
    pytest.param(
        255, lambda n: modal(callback_id="c" * n), "/view/callback_id", chars, id="callback_id"
    ),
    pytest.param(
        3000,
        lambda n: modal(private_metadata="m" * n),
        "/view/private_metadata",
        chars,
        id="private_metadata",
    ),
    pytest.param(
        3000,
        lambda n: modal(blocks=[section("x" * n)]),
        "/view/blocks/0/text/text",
        chars,
        id="section text in a modal",
    ),
    pytest.param(
        2000,
        lambda n: modal(submit=plain("Save"), blocks=[{**text_input(), "hint": plain("h" * n)}]),
        "/view/blocks/0/hint/text",
        chars,
        id="input hint",
    ),
]


@pytest.mark.parametrize(("limit", "view", "pointer", "problem"), VIEW_LIMITS)
def test_a_modal_at_slacks_limit_opens_and_one_over_is_invalid_arguments(
    client, fake, limit, view, pointer, problem
):
    client.views_open(trigger_id=fake.new_trigger_id(), view=view(limit))

    error = error_of(
        lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=view(limit + 1))
    )

    assert error.response["error"] == "invalid_arguments"
    messages = error.response["response_metadata"]["messages"]
    assert messages[0] == "[ERROR] failed to match all allowed schemas [json-pointer:/view]"
    assert f"[ERROR] {refused(limit, pointer, problem)}" in messages


def test_a_home_tab_holds_a_hundred_blocks_and_no_more(client, fake):
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [DIVIDER] * 100})

    error = error_of(
        lambda: client.views_publish(user_id="U1", view={"type": "home", "blocks": [DIVIDER] * 101})
    )

    assert error.response["error"] == "invalid_arguments"
    assert (
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
        in error.response["response_metadata"]["messages"]
    )
    assert len(fake.home("U1")["blocks"]) == 100


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        pytest.param(
            {"type": "modal", "blocks": [section("Hi")]},
            "missing required field: title [json-pointer:/view]",
            id="modal without a title",
        ),
        pytest.param(
            modal(blocks=[text_input()]),
            "missing required field: submit [json-pointer:/view]",
            id="inputs without a submit button",
        ),
        pytest.param(
            modal(blocks=[]),
            "views must contain between 1 and 100 blocks [json-pointer:/view]",
            id="no blocks (slack_sdk's rule)",
        ),
    ],
)
def test_malformed_modals_are_invalid_arguments(client, fake, view, problem):
    error = error_of(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=view))

    assert error.response["error"] == "invalid_arguments"
    assert f"[ERROR] {problem}" in error.response["response_metadata"]["messages"]


def test_a_home_tab_cannot_have_a_submit_button(client, fake):
    home = {"type": "home", "blocks": [section("Hi")], "submit": plain("Save")}

    error = error_of(lambda: client.views_publish(user_id="U1", view=home))

    assert error.response["error"] == "invalid_arguments"
    assert fake.home("U1") is None


def test_a_view_over_250_kb_is_too_large(client, fake):
    big = modal(blocks=[section("x" * 3000)] * 84)  # about 254 KB of JSON

    error = error_of(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=big))

    assert error.response["error"] == "view_too_large"


def home_of_size(size: int) -> dict:
    """A home tab whose compact JSON is `size` bytes of UTF-8."""
    blocks = [section("x" * 3000) for _ in range(size // 3050)]
    view = {"type": "home", "blocks": blocks}
    blocks.append(section("x"))
    short = size - len(json.dumps(view, separators=(",", ":")))
    blocks[-1] = section("x" * (1 + short))
    return view


def test_a_view_is_weighed_as_compact_json_in_utf8_bytes(client, fake):
    client.views_publish(user_id="U1", view=home_of_size(250_000))

    error = error_of(lambda: client.views_publish(user_id="U1", view=home_of_size(250_001)))

    assert error.response["error"] == "view_too_large"
    assert len(json.dumps(fake.home("U1")["blocks"], separators=(",", ":"))) > 249_000


def test_non_latin_text_is_weighed_in_its_utf8_bytes_not_escaped(client, fake):
    # 75,000 Chinese characters: 225 KB of UTF-8, though 450 KB written as \uXXXX escapes.
    chinese = modal(blocks=[section("漢" * 3000) for _ in range(25)])
    client.views_open(trigger_id=fake.new_trigger_id(), view=chinese)

    heavier = modal(blocks=[section("漢" * 3000) for _ in range(28)])  # 252 KB of UTF-8
    error = error_of(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=heavier))

    assert len(fake.opened_views()) == 1
    assert error.response["error"] == "view_too_large"


# -- tokens -----------------------------------------------------------------------------------


def test_an_unknown_token_is_invalid_auth_and_posts_nothing(fake):
    stranger = WebClient(base_url=fake.base_url, token="xoxb-made-up")

    posting = error_of(lambda: stranger.chat_postMessage(channel="C1", text="hi"))
    checking = error_of(stranger.auth_test)

    assert posting.response["error"] == checking.response["error"] == "invalid_auth"
    assert fake.messages("C1") == []
    assert [call.token for call in fake.calls] == ["xoxb-made-up"] * 2


def test_a_revoked_token_is_token_revoked_and_others_still_work(client, fake):
    fake.add_token("xoxb-other")
    other = WebClient(base_url=fake.base_url, token="xoxb-other")
    client.chat_postMessage(channel="C1", text="before")

    fake.revoke_token("xoxb-test")

    assert error_of(client.auth_test).response["error"] == "token_revoked"
    posting = error_of(lambda: client.chat_postMessage(channel="C1", text="after"))
    assert posting.response["error"] == "token_revoked"
    assert other.chat_postMessage(channel="C1", text="other")["ok"] is True
    assert [m["text"] for m in fake.messages("C1")] == ["before", "other"]


def test_app_tokens_only_open_socket_mode_connections(fake):
    fake.socket_url = "wss://example.invalid/link"
    app = WebClient(base_url=fake.base_url, token="xapp-test")
    bot = WebClient(base_url=fake.base_url, token="xoxb-test")

    assert app.apps_connections_open(app_token="xapp-test")["url"] == fake.socket_url
    wrong_method = error_of(lambda: app.chat_postMessage(channel="C1", text="hi"))
    wrong_token = error_of(lambda: bot.api_call("apps.connections.open"))

    assert wrong_method.response["error"] == wrong_token.response["error"]
    assert wrong_token.response["error"] == "not_allowed_token_type"


# -- scopes -----------------------------------------------------------------------------------

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-manifest.yml"


def manifest_scopes() -> list[str]:
    return yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]


def installed_without(fake, scope: str, token: str = "xoxb-old-install") -> WebClient:
    """A client whose install predates `scope`: every other scope of the manifest, not it."""
    fake.add_token(token, scopes=[s for s in fake.bot_scopes if s != scope])
    return WebClient(base_url=fake.base_url, token=token)


def test_a_token_carries_the_manifests_bot_scopes_and_no_others(client, fake):
    # The manifest asks for no mpim:write, so the bot cannot open a group DM.
    group_dm = error_of(lambda: client.conversations_open(users="U1,U2"))

    assert fake.bot_scopes == tuple(manifest_scopes())
    assert group_dm.response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": "mpim:write",
        "provided": ",".join(manifest_scopes()),
    }


# (the scope Slack needs, a call that needs it); each channel is one the bot is in, or a DM.
SCOPED_CALLS = [
    ("chat:write", lambda c: c.chat_postMessage(channel="C1", text="hi")),
    ("chat:write", lambda c: c.chat_update(channel="C1", ts="1.000000", text="hi")),
    ("chat:write", lambda c: c.chat_postEphemeral(channel="C1", user="U1", text="hi")),
    ("channels:join", lambda c: c.conversations_join(channel="C1")),
    ("channels:read", lambda c: c.conversations_info(channel="C1")),
    ("groups:read", lambda c: c.conversations_info(channel="C0PRIVATE")),
    ("im:read", lambda c: c.conversations_info(channel="DU1")),
    ("channels:history", lambda c: c.conversations_history(channel="C1")),
    ("groups:history", lambda c: c.conversations_history(channel="C0PRIVATE")),
    ("im:history", lambda c: c.conversations_history(channel="DU1")),
    ("im:write", lambda c: c.conversations_open(users="U1")),
    ("users:read", lambda c: c.users_info(user="UBOT")),
    ("users:read.email", lambda c: c.users_lookupByEmail(email="ben@nhs.net")),
    ("files:write", lambda c: c.files_getUploadURLExternal(filename="c.png", length=3)),
    ("files:write", lambda c: c.files_completeUploadExternal(files=[{"id": "F1"}])),
]


@pytest.mark.parametrize(("scope", "call"), SCOPED_CALLS)
def test_a_method_without_its_scope_is_missing_scope_and_does_nothing(fake, scope, call):
    fake.add_channel("C0PRIVATE", "carers", private=True, bot_member=True)
    old = installed_without(fake, scope)

    error = error_of(lambda: call(old))

    assert error.response.status_code == 200
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == scope
    assert error.response["provided"].split(",") == [s for s in fake.bot_scopes if s != scope]
    assert fake.messages("C1") == [] and fake.ephemerals("C1") == []


def test_after_a_reinstall_with_the_scope_the_same_token_works(fake):
    fake.add_channel("C0FORUM", "qi-forum")
    old = installed_without(fake, "channels:join")
    refused = error_of(lambda: old.conversations_join(channel="C0FORUM"))

    fake.add_token("xoxb-old-install")  # reinstalled from the current manifest
    joined = old.conversations_join(channel="C0FORUM")

    assert refused.response["error"] == "missing_scope"
    assert joined["channel"]["is_member"] is True


def test_views_and_auth_test_need_no_scope(fake):
    fake.add_token("xoxb-bare", scopes=[])
    bare = WebClient(base_url=fake.base_url, token="xoxb-bare")

    bare.auth_test()
    bare.views_publish(user_id="U1", view={"type": "home", "blocks": [DIVIDER]})
    bare.views_open(trigger_id=fake.new_trigger_id(), view=modal())
    posting = error_of(lambda: bare.chat_postMessage(channel="C1", text="hi"))

    assert posting.response["provided"] == ""
    assert fake.home("U1") is not None and len(fake.opened_views()) == 1


def test_a_channel_the_bot_cannot_see_is_not_found_whatever_the_scopes(fake):
    # Slack cannot say which scope a channel needs without showing the channel is there.
    fake.add_channel("C0HIDDEN", "carers", private=True)
    old = installed_without(fake, "groups:history")

    error = error_of(lambda: old.conversations_history(channel="C0HIDDEN"))

    assert error.response["error"] == "channel_not_found"


def test_an_app_level_token_opens_socket_mode_with_connections_write(fake):
    fake.socket_url = "wss://example.invalid/link"
    fake.add_token("xapp-no-connections", scopes=[])
    app = WebClient(base_url=fake.base_url, token="xapp-no-connections")

    error = error_of(lambda: app.apps_connections_open(app_token="xapp-no-connections"))

    assert (error.response["error"], error.response["needed"]) == (
        "missing_scope",
        "connections:write",
    )
    assert WebClient(base_url=fake.base_url, token="xapp-test").apps_connections_open(
        app_token="xapp-test"
    )["ok"]


def test_every_method_the_fake_answers_has_slacks_scope_rule(fake):
    answered = set(fake._handlers())

    assert answered == set(METHOD_SCOPES) | SCOPELESS_METHODS


# -- trigger ids ------------------------------------------------------------------------------


def test_minted_trigger_ids_look_like_slacks_and_differ(fake):
    first, second = fake.new_trigger_id(), fake.new_trigger_id()

    assert re.fullmatch(r"\d+\.\d+\.[0-9a-f]+", first)
    assert first != second


def test_a_made_up_trigger_id_is_invalid(client, fake):
    error = error_of(lambda: client.views_open(trigger_id="12345.98765.abcd2358fdea", view=modal()))

    assert error.response["error"] == "invalid_trigger_id"


def test_a_trigger_id_expires_after_three_seconds(client, fake, monotonic):
    fake.clock = monotonic
    in_time, late = fake.new_trigger_id(), fake.new_trigger_id()

    monotonic.sleep(3.0)
    client.views_open(trigger_id=in_time, view=modal())
    monotonic.sleep(0.01)
    error = error_of(lambda: client.views_open(trigger_id=late, view=modal()))

    assert error.response["error"] == "expired_trigger_id"


def test_a_trigger_id_opens_one_view(client, fake):
    trigger_id = fake.new_trigger_id()
    client.views_open(trigger_id=trigger_id, view=modal())

    error = error_of(lambda: client.views_open(trigger_id=trigger_id, view=modal()))

    assert error.response["error"] == "exchanged_trigger_id"


def test_a_refused_view_leaves_its_trigger_unused(client, fake):
    trigger_id = fake.new_trigger_id()

    refused_view = error_of(
        lambda: client.views_open(trigger_id=trigger_id, view=modal(title=plain("t" * 25)))
    )
    opened = client.views_open(trigger_id=trigger_id, view=modal())

    assert refused_view.response["error"] == "invalid_arguments"
    assert opened["ok"] is True


# -- response URL limits ----------------------------------------------------------------------


def test_each_response_url_is_new(fake):
    assert fake.response_url() != fake.response_url()
    assert fake.response_url("same") == fake.response_url("same")


def test_a_response_url_takes_five_answers(fake):
    hook = WebhookClient(fake.response_url("r9"))

    answers = [hook.send(text=str(n)) for n in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert answers[-1].body == "used_url"
    assert [body["text"] for _, body in fake.responses] == ["0", "1", "2", "3", "4"]


def test_a_response_url_expires_after_thirty_minutes(fake, monotonic):
    fake.clock = monotonic
    in_time, late = WebhookClient(fake.response_url()), WebhookClient(fake.response_url())

    monotonic.sleep(30 * 60)
    first = in_time.send(text="just in time")
    monotonic.sleep(1)
    second = late.send(text="too late")

    assert first.status_code == 200
    assert (second.status_code, second.body) == (404, "expired_url")
    assert [body["text"] for _, body in fake.responses] == ["just in time"]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"text": "x", "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        ({"response_type": "ephemeral"}, "no_text"),
        ({"text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_a_response_url_refuses_what_slack_refuses_with_400(fake, payload, error):
    answer = WebhookClient(fake.response_url()).send_dict(payload)

    assert (answer.status_code, answer.body) == (400, error)
    assert fake.responses == []


def test_a_response_url_deletes_without_text(fake):
    answer = WebhookClient(fake.response_url()).send_dict({"delete_original": True})

    assert answer.status_code == 200
