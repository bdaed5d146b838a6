"""The fake Teams, checked over real HTTP and against the Teams SDK's own models and validator."""

import asyncio
import json
import os
import time

import httpx
import jwt
import pytest

from tests.fakes.teams_connector import (
    CREATE_CONVERSATION,
    DENIED,
    SEND_ACTIVITY,
    TOKEN,
    UPDATE_ACTIVITY,
    FakeTeams,
    RateLimits,
    _SlidingWindows,
)
from tests.fakes.teams_signing import (
    APP_ID,
    APP_PASSWORD,
    BAD_TOKEN_KINDS,
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_SCOPE,
    CHANNEL_ID_QI,
    PRIYA,
    TEAM_ID,
    TENANT_ID,
    SigningKey,
    TeamsUser,
    personal_conversation_id,
)

BEN = TeamsUser(
    user_id="29:1Ben0000000000000000000000000000000000000000000000_Ben",
    name="Ben Okafor",
    aad_object_id="6f1c2d3e-4a5b-4c6d-8e7f-000000000002",
    email="ben.okafor@nhs.net",
    user_principal_name="ben.okafor@nhs.net",
)
OTHER_APP = "00000000-0000-4000-8000-0000000000a2"
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake():
    with FakeTeams() as running:
        running.add_user(PRIYA)
        running.add_user(BEN)
        yield running


@pytest.fixture
def http():
    # Plain http only: verify=False skips loading CA certificates (~90 ms a client).
    with httpx.Client(timeout=5, verify=False) as client:
        yield client


def get_token(http, fake, *, client_id=APP_ID, secret=APP_PASSWORD, tenant=TENANT_ID, **form):
    fields = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": BOT_FRAMEWORK_SCOPE,
        **form,
    }
    return http.post(f"{fake.login_url}/{tenant}/oauth2/v2.0/token", data=fields)


@pytest.fixture
def bot(http, fake):
    """An httpx client that calls the Connector as the bot, with a token from the fake."""
    token = get_token(http, fake).json()["access_token"]
    with httpx.Client(
        base_url=fake.service_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
        verify=False,
    ) as client:
        yield client


@pytest.fixture
def chat(bot):
    """Priya's 1:1 chat with the bot, opened by the bot."""
    return open_chat(bot)


@pytest.fixture
def team(fake):
    """The app installed in the QI Forum team: its General channel and the QI channel."""
    fake.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
    return TEAM_ID


def message(text="hello"):
    return {"type": "message", "text": text}


def open_chat(bot, user=PRIYA, tenant=TENANT_ID):
    answer = bot.post(
        "v3/conversations",
        json={
            "bot": {"id": f"28:{APP_ID}"},
            "members": [{"id": user.user_id}],
            "isGroup": False,
            "tenantId": tenant,
            "channelData": {"tenant": {"id": tenant}},
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


# -- addresses and keys ---------------------------------------------------------------------------


def test_urls_point_at_one_local_server(fake):
    assert fake.service_url.startswith("http://127.0.0.1:")
    assert fake.service_url.endswith("/teams/")
    assert fake.login_url == fake.root_url
    assert fake.openid_metadata_url.endswith("/v1/.well-known/openidconfiguration")


def test_not_started_has_no_url():
    with pytest.raises(RuntimeError):
        _ = FakeTeams().service_url


def test_openid_metadata_and_keys(fake, http):
    metadata = http.get(fake.openid_metadata_url).json()
    keys = http.get(metadata["jwks_uri"]).json()["keys"]

    assert metadata["issuer"] == BOT_FRAMEWORK_ISSUER
    assert metadata["jwks_uri"] == fake.jwks_url
    assert [key["kid"] for key in keys] == [fake.signing_key.kid]
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["endorsements"] == ["msteams"]
    assert "d" not in keys[0]  # public half only


# -- tokens ---------------------------------------------------------------------------------------


def test_token_endpoint_issues_a_bot_framework_token(fake, http):
    answer = get_token(http, fake)

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    assert claims["aud"] == BOT_FRAMEWORK_ISSUER
    assert claims["appid"] == APP_ID
    assert claims["tid"] == TENANT_ID
    assert claims["exp"] > time.time() + 3000
    assert fake.tokens_issued == 1
    assert fake.calls_to(TOKEN)[0].body["client_id"] == APP_ID


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": OTHER_APP}, 400, "unauthorized_client"),
        ({"tenant": "00000000-0000-4000-8000-0000000000e2"}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses_as_entra_does(fake, http, change, status, error):
    answer = get_token(http, fake, **change)

    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["error_description"].startswith("AADSTS")
    assert fake.tokens_issued == 0


# -- Connector authorisation ----------------------------------------------------------------------


def test_connector_refuses_calls_without_a_token(fake, http, chat):
    answer = http.post(fake.service_url + f"v3/conversations/{chat}/activities", json=message())

    assert answer.status_code == 401
    assert answer.json() == DENIED
    assert fake.activities(chat) == []
    assert fake.calls_to(SEND_ACTIVITY)[0].status == 401


def test_connector_refuses_tokens_it_did_not_issue_to_the_bot(fake, http, chat):
    fake.register_client(OTHER_APP, "other-secret")
    foreign = get_token(http, fake, client_id=OTHER_APP, secret="other-secret").json()
    forged = SigningKey.fresh("fake-entra-key-1").encode(
        {"aud": BOT_FRAMEWORK_ISSUER, "appid": APP_ID, "jti": "x", "exp": int(time.time()) + 60}
    )
    url = fake.service_url + f"v3/conversations/{chat}/activities"

    for token in (foreign["access_token"], forged, "not-a-jwt"):
        answer = http.post(url, json=message(), headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
    assert fake.activities(chat) == []


def test_revoked_tokens_are_refused(fake, bot, chat):
    assert bot.post(f"v3/conversations/{chat}/activities", json=message()).status_code == 201
    fake.revoke_tokens()

    assert bot.post(f"v3/conversations/{chat}/activities", json=message()).status_code == 401


# -- conversations and activities -----------------------------------------------------------------


def test_create_conversation_gives_the_same_id_for_the_same_user_and_tenant(fake, bot):
    first = open_chat(bot)
    again = open_chat(bot)
    by_aad_id = bot.post(
        "v3/conversations",
        json={"members": [{"id": PRIYA.aad_object_id}], "tenantId": TENANT_ID},
    ).json()["id"]
    other_user = open_chat(bot, BEN)

    assert first.startswith("a:")
    assert first == again == by_aad_id
    assert first != other_user
    assert fake.conversations[first].user_id == PRIYA.user_id
    assert len(fake.calls_to(CREATE_CONVERSATION)) == 4


STRANGER = TeamsUser("29:1Stranger_not_in_the_fake", "Sam Stranger", "aad-not-in-the-fake")


@pytest.mark.parametrize(
    ("member", "tenant", "status", "code", "says"),
    [
        (STRANGER.user_id, TENANT_ID, 400, "BadArgument", "Failed to decrypt pairwise id"),
        (STRANGER.aad_object_id, TENANT_ID, 403, "ForbiddenOperationException", "personal scope"),
        (PRIYA.user_id, "00000000-0000-4000-8000-0000000000e2", 400, "BadArgument", "pairwise"),
        (PRIYA.aad_object_id, "00000000-0000-4000-8000-0000000000e2", 403, "Forbidden", "scope"),
    ],
    ids=["unknown 29: id", "unknown AAD id", "29: id in another tenant", "AAD id elsewhere"],
)
def test_a_chat_with_someone_teams_does_not_know_is_refused(
    fake, bot, member, tenant, status, code, says
):
    answer = bot.post("v3/conversations", json={"members": [{"id": member}], "tenantId": tenant})

    assert answer.status_code == status
    assert answer.json()["error"]["code"].startswith(code)
    assert says in answer.json()["error"]["message"]
    assert fake.conversations == {}


@pytest.mark.parametrize(
    "body",
    [
        {"members": [{"id": PRIYA.user_id}]},  # no tenant
        {"members": [{"id": PRIYA.user_id}, {"id": BEN.user_id}], "tenantId": TENANT_ID},
        {"members": [{"id": PRIYA.user_id}], "tenantId": TENANT_ID, "isGroup": True},
    ],
)
def test_create_conversation_refuses_what_teams_refuses(fake, bot, body):
    answer = bot.post("v3/conversations", json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadArgument"
    assert fake.conversations == {}


def test_post_assigns_ids_and_update_replaces_the_content(fake, bot):
    chat = open_chat(bot)
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}
    first = bot.post(
        f"v3/conversations/{chat}/activities", json={**message("one"), "attachments": [card]}
    )
    second = bot.post(f"v3/conversations/{chat}/activities", json=message("two"))

    assert first.status_code == second.status_code == 201
    first_id, second_id = first.json()["id"], second.json()["id"]
    assert int(second_id) > int(first_id)

    updated = bot.put(f"v3/conversations/{chat}/activities/{first_id}", json=message("one, edited"))

    assert updated.status_code == 200
    assert updated.json() == {"id": first_id}
    stored = fake.activities(chat)
    assert [(a["id"], a["text"]) for a in stored] == [(first_id, "one, edited"), (second_id, "two")]
    assert "attachments" not in stored[0]
    assert fake.calls_to(SEND_ACTIVITY)[0].body["attachments"] == [card]


def test_update_of_an_unknown_activity_is_404(fake, bot):
    chat = open_chat(bot)
    sent = bot.post(f"v3/conversations/{chat}/activities", json=message()).json()["id"]

    unknown = bot.put(f"v3/conversations/{chat}/activities/999", json=message("x"))
    elsewhere = bot.put(f"v3/conversations/{open_chat(bot, BEN)}/activities/{sent}", json=message())

    assert unknown.status_code == elsewhere.status_code == 404
    assert unknown.json()["error"]["code"] == "ActivityNotFoundInConversation"
    assert elsewhere.json()["error"]["code"] == "ActivityNotFoundInConversation"
    assert fake.activities(chat)[0]["text"] == "hello"
    assert [call.status for call in fake.calls_to(UPDATE_ACTIVITY)] == [404, 404]


UNKNOWN_CHAT = "a:1NeverOpenedByTheBotNorWrittenInByAnyone"
UNKNOWN_CHANNEL = "19:00000000000000000000000000000000@thread.tacv2"


@pytest.mark.parametrize("conversation", [UNKNOWN_CHAT, UNKNOWN_CHANNEL], ids=["chat", "channel"])
@pytest.mark.parametrize(
    ("method", "tail"),
    [
        ("POST", "activities"),
        ("POST", "activities/1764489601000"),
        ("PUT", "activities/1764489601000"),
        ("DELETE", "activities/1764489601000"),
        ("GET", f"members/{PRIYA.user_id}"),
        ("GET", "members"),
        ("GET", "pagedMembers"),
    ],
)
def test_a_conversation_that_does_not_exist_is_404_conversation_not_found(
    fake, bot, team, conversation, method, tail
):
    body = message() if method in ("POST", "PUT") else None

    answer = bot.request(method, f"v3/conversations/{conversation}/{tail}", json=body)

    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "code": "ConversationNotFound",
        "message": "Conversation not found.",
    }
    assert fake.activities(conversation) == []


def test_a_chat_exists_once_the_bot_opened_it_or_its_user_wrote(fake, bot):
    ben_chat = personal_conversation_id(BEN)
    before = bot.post(f"v3/conversations/{ben_chat}/activities", json=message())
    opened = open_chat(bot, BEN)
    written = fake.activity("personal", "qi-help", user=STRANGER)["conversation"]["id"]

    assert before.status_code == 404
    assert opened == ben_chat
    for chat in (ben_chat, written):
        assert bot.post(f"v3/conversations/{chat}/activities", json=message()).status_code == 201
    assert fake.conversations[written].user_id == STRANGER.user_id
    assert bot.get(f"v3/conversations/{written}/members/{STRANGER.user_id}").status_code == 200
    assert open_chat(bot, STRANGER) == written  # Teams knows whoever wrote to the bot


def test_a_channel_exists_once_the_app_is_in_its_team(fake, bot):
    url = f"v3/conversations/{CHANNEL_ID_QI}/activities"
    before = bot.post(url, json=message())

    fake.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])

    assert before.status_code == 404
    assert bot.post(url, json=message()).status_code == 201
    general = bot.post(f"v3/conversations/{TEAM_ID}/activities", json=message())
    assert general.status_code == 201  # the General channel's id is the team's
    thread = f"{CHANNEL_ID_QI};messageid=1764489601000"
    assert bot.post(f"v3/conversations/{thread}/activities", json=message()).status_code == 201


@pytest.mark.parametrize(
    ("kind", "args", "options", "channel"),
    [
        ("channel_mention", ("qi-help",), {}, CHANNEL_ID_QI),
        (
            "card_action",
            ("rsvp",),
            {"channel_id": CHANNEL_ID_QI, "reply_to_id": "1"},
            CHANNEL_ID_QI,
        ),
        ("team_added", (), {}, TEAM_ID),
    ],
)
def test_an_activity_from_a_channel_shows_the_app_is_in_its_team(
    fake, bot, kind, args, options, channel
):
    fake.activity(kind, *args, **options)

    answer = bot.post(f"v3/conversations/{channel}/activities", json=message())

    assert answer.status_code == 201


def test_channel_posts_replies_and_deletes(fake, bot, team):
    root = bot.post(f"v3/conversations/{CHANNEL_ID_QI}/activities", json=message("news")).json()
    thread = f"{CHANNEL_ID_QI};messageid={root['id']}"
    reply = bot.post(f"v3/conversations/{thread}/activities/{root['id']}", json=message("re"))

    assert reply.status_code == 201
    assert fake.activities(thread)[0]["replyToId"] == root["id"]
    assert (
        bot.delete(f"v3/conversations/{thread}/activities/{reply.json()['id']}").status_code == 200
    )
    assert fake.activities(thread) == []
    assert [a["text"] for a in fake.activities(CHANNEL_ID_QI)] == ["news"]


def test_listing_conversations_is_not_allowed(fake, bot):
    answer = bot.get("v3/conversations")

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_unknown_paths_are_404_and_wrong_methods_405(fake, bot):
    assert bot.get("v3/conversations/a:1/nothing").status_code == 404
    assert bot.get("v3/conversations/a:1/activities").status_code == 405


# -- what Teams refuses: size and content --------------------------------------------------------

LIMIT = 100_000  # Microsoft: "The bot message size limit is 100 KB", counted as UTF-16; the
# fake takes the stricter reading of KB (1,000 bytes)


def compact(activity) -> str:
    return json.dumps(activity, ensure_ascii=False, separators=(",", ":"))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le"))


def of_utf16_size(size: int) -> str:
    """A text message whose JSON text is exactly `size` bytes in UTF-16 (ASCII: 2 a character)."""
    overhead = utf16(compact(message("")))
    text = compact(message("x" * ((size - overhead) // 2)))
    assert utf16(text) == size
    return text


def card_message(card):
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def text_card(lines):
    body = [{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": t}]} for t in lines]
    return {"type": "AdaptiveCard", "version": "1.5", "body": body}


def send(bot, how, activity=None, *, content=None):
    """Send, reply or edit in a fresh 1:1 chat (an edit of a message sent there first)."""
    chat = open_chat(bot)
    url = f"v3/conversations/{chat}/activities"
    kwargs = (
        {"json": activity}
        if content is None
        else {
            "content": content.encode("utf-8"),
            "headers": {"Content-Type": "application/json"},
        }
    )
    if how == "send":
        return chat, bot.post(url, **kwargs)
    first = bot.post(url, json=message("first")).json()["id"]
    if how == "reply":
        return chat, bot.post(f"{url}/{first}", **kwargs)
    return chat, bot.put(f"{url}/{first}", **kwargs)


HOW = ["send", "reply", "update"]


@pytest.mark.parametrize("how", HOW)
def test_exactly_100_000_bytes_in_utf16_are_taken_and_one_character_more_is_413(fake, bot, how):
    # UTF-16 comes in 2-byte units: one byte over the limit is one character over it.
    chat, exactly = send(bot, how, content=of_utf16_size(LIMIT))
    _, over = send(bot, how, content=of_utf16_size(LIMIT + 2))

    assert exactly.status_code in (200, 201)
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "MessageSizeTooBig"
    longest = max(len(activity["text"]) for activity in fake.activities(chat))
    assert longest == (LIMIT - utf16(compact(message("")))) // 2  # the one that fitted, only


def test_non_latin_names_under_the_limit_in_utf8_but_over_in_utf16_are_413(fake, bot):
    names = ["Αθηνά Παπαδοπούλου", "Дмитрий Соколов", "Siân Llŷr"] * 270
    activity = card_message(text_card(names))
    text = compact(activity)
    assert len(text.encode("utf-8")) < LIMIT < utf16(text)

    chat, answer = send(bot, "send", activity)

    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "MessageSizeTooBig"
    assert fake.activities(chat) == []


def test_size_is_counted_in_utf16_not_utf8_bytes(fake, bot):
    # Chinese is 3 bytes a character in UTF-8 but 2 in UTF-16: over the limit as sent, under as
    # Teams counts it.
    activity = card_message(text_card(["预防跌倒项目" * 1000] * 6))
    text = compact(activity)
    assert utf16(text) < LIMIT < len(text.encode("utf-8"))

    chat, answer = send(bot, "send", activity)

    assert answer.status_code == 201
    assert len(fake.activities(chat)) == 1


def test_base64_images_count_towards_the_limit(fake, bot):
    # Microsoft says they do not; untried against real Teams, so the fake counts them.
    image = {"type": "Image", "url": "data:image/png;base64," + "A" * 60_000, "altText": "chart"}
    activity = card_message({"type": "AdaptiveCard", "version": "1.5", "body": [image]})
    assert utf16(compact(activity)) > LIMIT

    _, answer = send(bot, "send", activity)

    assert answer.status_code == 413


TEXT_RUN = {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "Hi"}]}


INVALID_CARDS = [
    ({**CARD, "body": [{"type": "Marquee", "text": "Hi"}]}, "unknown type 'Marquee'"),
    ({**CARD, "body": [{"type": "RichTextBlock"}]}, "'inlines' is a required property"),
    ({**CARD, "body": [{"type": "Input.Text", "label": "Name"}]}, "'id' is a required"),
    ({**CARD, "version": "2.0"}, "version '2.0' is not supported"),
    ({"type": "AdaptiveCard", "body": [TEXT_RUN]}, "has no version"),
    ({**CARD, "body": [{**TEXT_RUN, "colour": "red"}]}, "('colour' was unexpected)"),
    (
        {**CARD, "actions": [{"type": "Action.Execute", "title": "Go", "style": "loud"}]},
        "$.actions[0].style",
    ),
    ({**CARD, "msteams": {"width": "Half"}}, "'Half' is not one of ['Full']"),
    ('{"type": "AdaptiveCard"}', "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("card", "says"),
    INVALID_CARDS,
    ids=[
        "unknown-element",
        "missing-inlines",
        "input-without-id",
        "unknown-version",
        "no-version",
        "unknown-property",
        "bad-enum",
        "undocumented-msteams",
        "card-as-a-string",
    ],
)
@pytest.mark.parametrize("how", HOW)
def test_an_invalid_card_is_400_bad_argument_and_changes_nothing(fake, bot, how, card, says):
    chat, answer = send(bot, how, card_message(card))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadArgument"
    assert says in answer.json()["error"]["message"]
    assert "attachments[0].content" in answer.json()["error"]["message"]
    assert all("attachments" not in activity for activity in fake.activities(chat))


def test_valid_cards_are_taken_including_what_teams_documents_beyond_the_schema(fake, bot):
    choices = [{"title": f"Project {n}", "value": str(n)} for n in range(30)]
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "body": [
            TEXT_RUN,
            {"type": "Input.ChoiceSet", "id": "p", "choices": choices, "style": "filtered"},
            {
                "type": "Image",
                "url": "data:image/png;base64,iVBORw0KGgo=",
                "altText": "A run chart",
                "msteams": {"allowExpand": True},
            },
            {
                "type": "ActionSet",
                "actions": [
                    {"type": "Action.Execute", "title": "Join", "verb": "join", "data": {"a": 1}}
                ],
            },
        ],
    }

    chat, answer = send(bot, "send", card_message(card))

    assert answer.status_code == 201, answer.text
    assert fake.activities(chat)[0]["attachments"][0]["content"] == card


@pytest.mark.parametrize(
    ("activity", "says"),
    [
        ({"type": "invoke", "name": "x"}, "does not match any of the expected tags"),
        ({"type": "message", "attachments": {"contentType": "x"}}, "valid list"),
        ({"type": "message", "text": 42}, "valid string"),
        ({"text": "no type"}, "An activity needs a type."),
    ],
)
def test_an_activity_the_sdk_models_refuse_is_400(fake, bot, activity, says):
    chat, answer = send(bot, "send", activity)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadArgument"
    assert says in answer.json()["error"]["message"]
    assert fake.activities(chat) == []


def test_a_removed_bot_gets_403(fake, bot):
    chat = open_chat(bot)
    fake.remove_bot(chat)

    answer = bot.post(f"v3/conversations/{chat}/activities", json=message())

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "BotNotInConversationRoster"
    assert bot.get(f"v3/conversations/{chat}/members/{PRIYA.user_id}").status_code == 403


def test_a_bot_added_back_to_a_channels_team_may_post_there_again(fake, bot, team):
    fake.remove_bot(CHANNEL_ID_QI)
    refused = bot.post(f"v3/conversations/{CHANNEL_ID_QI}/activities", json=message())
    members_refused = bot.get(f"v3/conversations/{CHANNEL_ID_QI}/pagedMembers")
    general_refused = bot.post(f"v3/conversations/{TEAM_ID}/activities", json=message())

    fake.reinstall_bot(CHANNEL_ID_QI)
    accepted = bot.post(f"v3/conversations/{CHANNEL_ID_QI}/activities", json=message())

    # The app is installed in a team, not a channel: removing it leaves every channel.
    assert (refused.status_code, members_refused.status_code) == (403, 403)
    assert general_refused.json()["error"]["code"] == "BotNotInConversationRoster"
    assert accepted.status_code == 201
    assert len(fake.activities(CHANNEL_ID_QI)) == 1


def test_adding_the_app_to_the_team_again_is_a_reinstall(fake, bot, team):
    fake.remove_bot(TEAM_ID)

    fake.activity("team_added")

    assert bot.post(f"v3/conversations/{CHANNEL_ID_QI}/activities", json=message()).is_success


def test_removing_or_reinstalling_where_nothing_exists_is_a_mistake_in_the_test(fake):
    for change in (fake.remove_bot, fake.reinstall_bot):
        with pytest.raises(ValueError, match="install_in_team"):
            change(CHANNEL_ID_QI)


# -- people who blocked the bot -------------------------------------------------------------------


def test_a_person_who_blocked_the_bot_gets_nothing_from_it(fake, bot, chat):
    sent = bot.post(f"v3/conversations/{chat}/activities", json=message("before")).json()["id"]
    ben = open_chat(bot, BEN)
    fake.block_bot(PRIYA)

    refused = [
        bot.post(f"v3/conversations/{chat}/activities", json=message()),
        bot.post(f"v3/conversations/{chat}/activities/{sent}", json=message()),
        bot.put(f"v3/conversations/{chat}/activities/{sent}", json=message("edited")),
    ]
    member = bot.get(f"v3/conversations/{chat}/members/{PRIYA.user_id}")

    for answer in refused:
        assert answer.status_code == 403
        assert answer.json()["error"] == {
            "code": "ConversationBlockedByUser",
            "message": "User blocked the conversation with the bot.",
        }
    assert [a["text"] for a in fake.activities(chat)] == ["before"]
    assert open_chat(bot) == chat  # the chat is still there; the bot may not write in it
    assert member.status_code == 200
    assert bot.post(f"v3/conversations/{ben}/activities", json=message()).status_code == 201


def test_a_person_who_writes_to_the_bot_again_has_unblocked_it(fake, bot, chat):
    fake.block_bot(PRIYA)

    fake.activity("personal", "qi-help")

    assert bot.post(f"v3/conversations/{chat}/activities", json=message()).status_code == 201


# -- members --------------------------------------------------------------------------------------


def test_member_profile_by_teams_id_or_aad_object_id(fake, bot, team):
    for member_id in (PRIYA.user_id, PRIYA.aad_object_id):
        answer = bot.get(f"v3/conversations/{CHANNEL_ID_QI}/members/{member_id}")
        assert answer.status_code == 200
        assert answer.json() == {
            "id": PRIYA.user_id,
            "name": "Priya Shah",
            "aadObjectId": PRIYA.aad_object_id,
            "givenName": "Priya",
            "surname": "Shah",
            "email": "priya.shah@nhs.net",
            "userPrincipalName": "priya.shah@nhs.net",
            "tenantId": TENANT_ID,
            "userRole": "user",
        }
    unknown = bot.get(f"v3/conversations/{CHANNEL_ID_QI}/members/29:nobody")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "MemberNotFoundInConversation"


def test_a_one_to_one_chat_holds_only_its_user(fake, bot):
    chat = open_chat(bot)

    assert bot.get(f"v3/conversations/{chat}/members/{PRIYA.user_id}").status_code == 200
    assert bot.get(f"v3/conversations/{chat}/members/{BEN.user_id}").status_code == 404
    assert [m["id"] for m in bot.get(f"v3/conversations/{chat}/members").json()] == [PRIYA.user_id]


def test_paged_members_pages(fake, bot, team):
    first = bot.get(f"v3/conversations/{CHANNEL_ID_QI}/pagedMembers", params={"pageSize": 1}).json()
    second = bot.get(
        f"v3/conversations/{CHANNEL_ID_QI}/pagedMembers",
        params={"pageSize": 1, "continuationToken": first["continuationToken"]},
    ).json()

    assert [m["id"] for m in first["members"] + second["members"]] == [PRIYA.user_id, BEN.user_id]
    assert "continuationToken" not in second


# -- misbehaviour ---------------------------------------------------------------------------------


def test_fail_answers_429_with_retry_after_then_recovers(fake, bot, chat):
    fake.fail(SEND_ACTIVITY, 429, retry_after=7)

    throttled = bot.post(f"v3/conversations/{chat}/activities", json=message())
    after = bot.post(f"v3/conversations/{chat}/activities", json=message())

    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "Throttled"
    assert after.status_code == 201
    assert len(fake.activities(chat)) == 1


def test_fail_by_http_method_without_retry_after_and_several_times(fake, bot, chat):
    fake.fail("PUT", 429, times=2)
    fake.fail(CREATE_CONVERSATION, 502)
    sent = bot.post(f"v3/conversations/{chat}/activities", json=message()).json()["id"]

    answers = [
        bot.put(f"v3/conversations/{chat}/activities/{sent}", json=message("x")) for _ in "123"
    ]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert "Retry-After" not in answers[0].headers
    assert bot.post("v3/conversations", json={}).status_code == 502


def test_delay_and_stall(fake, bot, chat):
    fake.delay(SEND_ACTIVITY, 0.2)
    started = time.monotonic()
    bot.post(f"v3/conversations/{chat}/activities", json=message())
    assert time.monotonic() - started >= 0.2

    stalled = fake.stall_after(SEND_ACTIVITY, 5)
    with pytest.raises(httpx.ReadTimeout):
        bot.post(f"v3/conversations/{chat}/activities", json=message("sent"), timeout=0.3)
    assert stalled.is_set()
    assert [a["text"] for a in fake.activities(chat)] == ["hello", "sent"]  # posted all the same


# -- rate limits ----------------------------------------------------------------------------------


def test_rate_limits_answer_429_per_conversation(fake, bot, chat):
    other = open_chat(bot, BEN)
    clock = Clock()
    fake.enforce_rate_limits(clock=clock)

    statuses = [
        bot.post(f"v3/conversations/{chat}/activities", json=message()).status_code
        for _ in range(8)
    ]
    elsewhere = bot.post(f"v3/conversations/{other}/activities", json=message())
    refused = bot.post(f"v3/conversations/{chat}/activities", json=message())
    clock.now += 1.0
    eighth = bot.post(f"v3/conversations/{chat}/activities", json=message())
    ninth = bot.post(f"v3/conversations/{chat}/activities", json=message())  # 8 per 2 s
    clock.now += 1.0
    later = bot.post(f"v3/conversations/{chat}/activities", json=message())

    assert statuses == [201] * 7 + [429]
    assert elsewhere.status_code == 201
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert (eighth.status_code, ninth.status_code, later.status_code) == (201, 429, 201)
    assert len(fake.activities(chat)) == 9
    assert fake.rate_limited[SEND_ACTIVITY] == 3


def test_rate_limits_without_retry_after_and_for_creating_chats(fake, bot):
    fake.enforce_rate_limits(
        RateLimits(create_conversation=((60, 2),)), retry_after=False, clock=Clock()
    )

    answers = [
        bot.post(
            "v3/conversations", json={"members": [{"id": PRIYA.user_id}], "tenantId": TENANT_ID}
        )
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert "Retry-After" not in answers[2].headers
    assert fake.rate_limited[CREATE_CONVERSATION] == 1


def test_documented_windows_for_30_seconds_and_an_hour():
    clock = Clock()
    windows = _SlidingWindows(RateLimits(), clock)

    def burst(count: int, spacing: float) -> list[float | None]:
        waits = []
        for _ in range(count):
            waits.append(windows.wait(SEND_ACTIVITY, "a:1"))
            clock.now += spacing
        return waits

    assert all(wait is None for wait in burst(60, 0.26))  # 60 in ~15.3 s: within 8 per 2 s
    assert burst(1, 0)[0] == pytest.approx(30 - 60 * 0.26)  # the 61st waits for the 30-s window
    clock.now += 3600
    hourly = burst(1801, 1.0)  # one a second never trips the short windows
    assert hourly[:1800] == [None] * 1800
    assert hourly[1800] == pytest.approx(1800.0)  # the first of the hour leaves at 3600 s
    assert RateLimits().floor_seconds([1801]) == 3600
    assert RateLimits().floor_seconds([8, 1]) == 1  # the 8th a second after the 1st
    assert RateLimits().floor_seconds([9]) == 2  # 8 per 2 s


# -- inbound tokens -------------------------------------------------------------------------------


def verify(fake, token, service_url=None):
    """Check a token as the Teams SDK does: JWKS key by kid, RS256, iss, aud, serviceurl."""
    key = jwt.PyJWKClient(fake.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=[APP_ID, f"api://{APP_ID}", f"api://botid-{APP_ID}"],
        issuer=BOT_FRAMEWORK_ISSUER,
        leeway=300,
    )
    if claims.get("serviceurl") != (service_url or fake.service_url):
        raise jwt.InvalidTokenError("serviceurl")
    return claims


def test_signed_token_verifies_against_the_fake_jwks(fake):
    claims = verify(fake, fake.sign())

    assert claims["aud"] == APP_ID
    assert claims["serviceurl"] == fake.service_url
    assert claims["exp"] > time.time()


@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
def test_each_bad_token_fails_verification(fake, kind):
    with pytest.raises(jwt.InvalidTokenError):
        verify(fake, fake.sign_bad(kind))


def test_rotated_key_is_published_and_used(fake):
    old = fake.sign()
    fake.rotate_signing_key()

    assert verify(fake, old)
    assert jwt.get_unverified_header(fake.sign())["kid"] == "fake-bf-key-2"
    assert verify(fake, fake.sign())


@pytest.mark.filterwarnings("ignore::Warning")  # the SDK's import-time experimental warnings
def test_the_sdk_token_validator_agrees(fake):
    saved = dict(os.environ)  # importing microsoft_teams.apps loads a .env into os.environ
    try:
        from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
        from microsoft_teams.apps.auth.token_validator import TokenValidator
    finally:
        os.environ.clear()
        os.environ.update(saved)
    cloud = with_overrides(PUBLIC, openid_metadata_url=fake.openid_metadata_url)
    validator = TokenValidator.for_service(APP_ID, cloud=cloud)

    async def check(token):
        return await validator.validate_token(token, service_url=fake.service_url)

    assert asyncio.run(check(fake.sign()))["aud"] == APP_ID
    for kind in BAD_TOKEN_KINDS:
        with pytest.raises(jwt.InvalidTokenError):
            asyncio.run(check(fake.sign_bad(kind)))


# -- activities as Teams posts them ---------------------------------------------------------------


def parse(activity):
    from microsoft_teams.api import ActivityTypeAdapter

    return ActivityTypeAdapter.validate_python(activity)


def test_personal_message_parses_with_the_sdk(fake):
    activity = parse(fake.activity("personal", "qi-join Falls prevention"))

    assert type(activity).__name__ == "MessageActivity"
    assert activity.text == "qi-join Falls prevention"
    assert activity.conversation.conversation_type == "personal"
    assert activity.conversation.tenant_id == TENANT_ID
    assert activity.conversation.id.startswith("a:")
    assert activity.from_.id == PRIYA.user_id
    assert activity.from_.aad_object_id == PRIYA.aad_object_id
    assert activity.recipient.id == f"28:{APP_ID}"
    assert activity.service_url == fake.service_url
    assert activity.channel_id == "msteams"


def test_channel_mention_parses_and_strips_to_the_command(fake):
    raw = fake.activity("channel_mention", "qi-projects mine")
    activity = parse(raw)

    assert raw["text"] == "<at>qi-nudge</at> qi-projects mine"
    assert activity.conversation.id == f"{CHANNEL_ID_QI};messageid={raw['id']}"
    assert activity.conversation.conversation_type == "channel"
    assert activity.is_recipient_mentioned
    assert activity.strip_mentions_text().text == "qi-projects mine"
    assert activity.channel_data.team.id == TEAM_ID


def test_card_action_parses_as_an_adaptive_card_invoke(fake):
    raw = fake.activity(
        "card_action",
        "rsvp",
        {"v": "12:yes"},
        reply_to_id="1764489601000",
        inputs={"role": "carer"},
    )
    activity = parse(raw)

    assert type(activity).__name__ == "AdaptiveCardInvokeActivity"
    assert activity.name == "adaptiveCard/action"
    assert activity.value.action.type == "Action.Execute"
    assert activity.value.action.verb == "rsvp"
    assert activity.value.action.data == {"v": "12:yes", "role": "carer"}
    assert activity.reply_to_id == "1764489601000"


def test_install_and_team_added_parse(fake):
    install = parse(fake.activity("install"))
    added = parse(fake.activity("team_added"))

    assert type(install).__name__ == "InstalledActivity"
    assert install.action == "add"
    assert install.conversation.conversation_type == "personal"
    assert type(added).__name__ == "ConversationUpdateActivity"
    assert [member.id for member in added.members_added] == [f"28:{APP_ID}"]
    assert added.channel_data.event_type == "teamMemberAdded"
    assert added.channel_data.team.name == "QI Forum"


# -- the SDK's own client against the fake --------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ApiClient builds the old BotClient
def test_the_sdk_api_client_works_against_the_fake(fake, http):
    from microsoft_teams.api import (
        Account,
        ApiClient,
        Attachment,
        CreateConversationParams,
        MessageActivityInput,
    )
    from microsoft_teams.common.http import ClientOptions

    token = get_token(http, fake).json()["access_token"]

    async def scenario():
        api = ApiClient(fake.service_url, ClientOptions(token=token, timeout=5))
        conversation = await api.conversations.create(
            CreateConversationParams(
                members=[Account(id=PRIYA.user_id)],
                tenant_id=TENANT_ID,
                channel_data={"tenant": {"id": TENANT_ID}},
                **{"bot": {"id": f"28:{APP_ID}"}, "isGroup": False},
            )
        )
        card = Attachment(content_type="application/vnd.microsoft.card.adaptive", content=CARD)
        sent = await api.conversations.create_activity(
            conversation.id, MessageActivityInput(text="Weekly nudge").add_attachments(card)
        )
        await api.conversations.update_activity(
            conversation.id, sent.id, MessageActivityInput(text="Edited")
        )
        member = await api.conversations.get_member_by_id(conversation.id, PRIYA.user_id)
        fake.fail(SEND_ACTIVITY, 429, retry_after=3)
        with pytest.raises(httpx.HTTPStatusError) as throttled:
            await api.conversations.create_activity(conversation.id, MessageActivityInput(text="x"))
        return conversation.id, sent.id, member, throttled.value.response

    conversation_id, sent_id, member, throttled = asyncio.run(scenario())

    assert [(a["id"], a["text"]) for a in fake.activities(conversation_id)] == [(sent_id, "Edited")]
    assert member.email == "priya.shah@nhs.net"
    assert member.user_principal_name == "priya.shah@nhs.net"
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
