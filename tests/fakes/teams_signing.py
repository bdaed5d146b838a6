"""What Microsoft Teams sends to the bot: Bot Framework-signed tokens and activities as posted.

Teams (through the Bot Framework Connector) POSTs each activity to the bot's messaging endpoint
with ``Authorization: Bearer <JWT>``. The JWT is RS256, signed with a key published in the
Bot Framework JWKS (https://login.botframework.com/v1/.well-known/keys, reached from the OpenID
metadata document), with ``iss`` "https://api.botframework.com", ``aud`` the bot's app id, a
``serviceurl`` claim equal to the activity's ``serviceUrl``, and ``nbf``/``exp``. `inbound_token`
makes such a token with a `SigningKey`; `forged_token` makes the ones a bot must refuse.

The activity builders (`personal_message`, `channel_mention`, `card_action`, `install_add`,
`team_added`) follow the examples in Microsoft's Teams documentation (conversation basics,
channel @mentions, Universal Actions' ``adaptiveCard/action`` invoke, installationUpdate,
conversationUpdate ``teamMemberAdded``), and parse with the Teams SDK's own ``Activity`` models
(checked in tests/fakes/test_teams_connector.py).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
"""The ``iss`` of inbound tokens, and the ``aud`` of the bot's outbound (Connector) tokens."""
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
CHANNEL_ID = "msteams"
OPENID_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"

# The bot registration the fakes know by default (GUIDs, as TEAMS_* settings require).
APP_ID = "00000000-0000-4000-8000-0000000000a1"
APP_PASSWORD = "fake-client-secret"  # a test fixture, not a secret
TENANT_ID = "00000000-0000-4000-8000-0000000000e1"
BOT_NAME = "qi-nudge"

TEAM_ID = "19:Gq1fA2KOc3qQ5yTqX8w2lQ9dPvB0fXfhd5GsZQ@thread.tacv2"
TEAM_NAME = "QI Forum"
TEAM_AAD_GROUP_ID = "00000000-0000-4000-8000-00000000c0de"
GENERAL_CHANNEL_ID = TEAM_ID  # a team's General channel has the team's own id
CHANNEL_ID_QI = "19:b7c2a1f0e3d54e5f9a8b7c6d5e4f3a2b@thread.tacv2"

CARD_ACTION_INVOKE = "adaptiveCard/action"  # the invoke Teams sends for an Action.Execute
FIRST_ACTIVITY_MS = 1_764_489_600_000  # 2025-11-30T08:00:00Z, the shape of Teams' message ids
_activity_ids = itertools.count()

BAD_TOKEN_KINDS = (
    "wrong_key",
    "wrong_audience",
    "wrong_issuer",
    "wrong_service_url",
    "expired",
    "not_yet_valid",
    "hs256",
    "none",
)
"""What `forged_token` can make; each must be refused (401) by a bot that checks properly."""


@dataclass(frozen=True)
class TeamsUser:
    """A person in the tenant as Teams knows them (the Connector's TeamsChannelAccount)."""

    user_id: str  # "29:...", per bot registration
    name: str
    aad_object_id: str
    email: str | None = None
    user_principal_name: str | None = None
    tenant_id: str = TENANT_ID
    given_name: str | None = None
    surname: str | None = None

    def account(self) -> dict[str, Any]:
        """How the user appears as an activity's ``from``."""
        return {"id": self.user_id, "name": self.name, "aadObjectId": self.aad_object_id}

    def member(self) -> dict[str, Any]:
        """How GET /v3/conversations/{id}/members/{userId} returns the user."""
        answer: dict[str, Any] = {
            "id": self.user_id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "givenName": self.given_name,
            "surname": self.surname,
            "email": self.email,
            "userPrincipalName": self.user_principal_name,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }
        return {name: value for name, value in answer.items() if value is not None}


PRIYA = TeamsUser(
    user_id="29:1Pq7m3Yd0gXkz2Vh8uJfR5sT6wNcA9bLe4iO0pHyQ_Priya",
    name="Priya Shah",
    aad_object_id="6f1c2d3e-4a5b-4c6d-8e7f-000000000001",
    email="priya.shah@nhs.net",
    user_principal_name="priya.shah@nhs.net",
    given_name="Priya",
    surname="Shah",
)
"""The person builders use when none is given."""


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with its key id; the public half is what a JWKS publishes."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def shared(cls, kid: str) -> SigningKey:
        """The key for `kid`, made once per test run (RSA generation costs ~50 ms)."""
        return cls(kid, _rsa_key(kid))

    @classmethod
    def fresh(cls, kid: str) -> SigningKey:
        """A key made now, shared with nothing."""
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_jwk(self, endorsements: tuple[str, ...] = (CHANNEL_ID,)) -> dict[str, Any]:
        """The key as the Bot Framework JWKS lists it: kty, use, kid, n, e, endorsements."""
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig", x5t=self.kid, endorsements=list(endorsements))
        return jwk

    def public_pem(self) -> bytes:
        """The public key, PEM-encoded (what an HS256 key-confusion attack uses as its secret)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def encode(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """`claims` as an RS256 JWT whose header names this key."""
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )


@functools.cache
def _rsa_key(kid: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def inbound_claims(
    app_id: str, service_url: str, *, now: float | None = None, lifetime: int = 3600
) -> dict[str, Any]:
    """The claims of a token the Bot Framework sends with an activity."""
    issued = int(time.time() if now is None else now)
    return {
        "serviceurl": service_url,
        "nbf": issued - 5,
        "exp": issued + lifetime,
        "iss": BOT_FRAMEWORK_ISSUER,
        "aud": app_id,
    }


def inbound_token(
    key: SigningKey,
    app_id: str,
    service_url: str,
    *,
    now: float | None = None,
    lifetime: int = 3600,
    **claims: Any,
) -> str:
    """An RS256 token as the Bot Framework signs it; `claims` override or add (None removes)."""
    payload = inbound_claims(app_id, service_url, now=now, lifetime=lifetime)
    payload.update(claims)
    return key.encode({name: value for name, value in payload.items() if value is not None})


def forged_token(kind: str, key: SigningKey, app_id: str, service_url: str) -> str:
    """A token that looks inbound but must be refused; `kind` is one of `BAD_TOKEN_KINDS`.

    * wrong_key: signed by a key the JWKS does not hold, under the real key's kid;
    * wrong_audience / wrong_issuer / wrong_service_url: one claim changed, properly signed;
    * expired: exp an hour ago; not_yet_valid: nbf in an hour (both beyond the 5-minute leeway);
    * hs256: HMAC-SHA256 keyed by the public key's PEM (the algorithm-confusion attack);
    * none: ``alg: none``, no signature.
    """
    now = int(time.time())
    if kind == "wrong_key":
        impostor = SigningKey(key.kid, _rsa_key(key.kid + "#impostor"))
        return inbound_token(impostor, app_id, service_url)
    if kind == "wrong_audience":
        return inbound_token(key, "00000000-0000-4000-8000-00000000beef", service_url)
    if kind == "wrong_issuer":
        return inbound_token(key, app_id, service_url, iss="https://sts.windows.net/evil/")
    if kind == "wrong_service_url":
        return inbound_token(key, app_id, "https://evil.example/teams/")
    if kind == "expired":
        return inbound_token(key, app_id, service_url, now=now - 7200)
    if kind == "not_yet_valid":
        return inbound_token(key, app_id, service_url, nbf=now + 3600, exp=now + 7200)
    if kind == "hs256":
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        signing_input = _b64(header) + "." + _b64(inbound_claims(app_id, service_url))
        digest = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(digest)
    if kind == "none":
        header = {"alg": "none", "typ": "JWT", "kid": key.kid}
        return _b64(header) + "." + _b64(inbound_claims(app_id, service_url)) + "."
    raise ValueError(f"unknown kind of bad token {kind!r}; one of {BAD_TOKEN_KINDS}")


def _b64(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- activities --------------------------------------------------------------------------------


def next_activity_id() -> str:
    """A fresh id in Teams' shape for a message (milliseconds since the epoch, as a string)."""
    return str(FIRST_ACTIVITY_MS + next(_activity_ids))


def personal_conversation_id(user: TeamsUser, app_id: str = APP_ID) -> str:
    """The 1:1 conversation id of the bot and `user`: opaque, stable, "a:"-prefixed like Teams'."""
    digest = hashlib.sha256(f"{app_id}|{user.tenant_id}|{user.user_id}".encode()).digest()
    return "a:1" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _timestamp(now: float | None) -> str:
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _base(
    kind: str,
    *,
    service_url: str,
    app_id: str,
    user: TeamsUser,
    conversation: dict[str, Any],
    channel_data: dict[str, Any],
    activity_id: str | None,
    locale: str | None = "en-GB",
    now: float | None = None,
) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": kind,
        "id": activity_id or next_activity_id(),
        "timestamp": _timestamp(now),
        "localTimestamp": _timestamp(now).replace("Z", "+00:00"),
        "serviceUrl": service_url,
        "channelId": CHANNEL_ID,
        "from": user.account(),
        "conversation": conversation,
        "recipient": {"id": f"28:{app_id}", "name": BOT_NAME},
        "entities": [
            {
                "type": "clientInfo",
                "locale": locale or "en-GB",
                "country": "GB",
                "platform": "Web",
                "timezone": "Europe/London",
            }
        ],
        "channelData": channel_data,
    }
    if locale is not None:
        activity["locale"] = locale
        activity["localTimezone"] = "Europe/London"
    return activity


def _personal_conversation(user: TeamsUser, app_id: str, conversation_id: str | None) -> dict:
    return {
        "conversationType": "personal",
        "tenantId": user.tenant_id,
        "id": conversation_id or personal_conversation_id(user, app_id),
    }


def _channel_conversation(tenant_id: str, channel_id: str, thread_id: str | None) -> dict:
    conversation_id = channel_id if thread_id is None else f"{channel_id};messageid={thread_id}"
    return {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": tenant_id,
        "id": conversation_id,
    }


def _channel_data(
    tenant_id: str, team_id: str | None = None, channel_id: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"tenant": {"id": tenant_id}}
    if channel_id is not None:
        data["teamsChannelId"] = channel_id
        data["channel"] = {"id": channel_id}
    if team_id is not None:
        data["teamsTeamId"] = team_id
        data["team"] = {"id": team_id}
    return data


def personal_message(
    text: str,
    *,
    service_url: str,
    user: TeamsUser = PRIYA,
    app_id: str = APP_ID,
    conversation_id: str | None = None,
    activity_id: str | None = None,
    locale: str | None = "en-GB",
) -> dict[str, Any]:
    """A message typed to the bot in its 1:1 chat with `user`."""
    activity = _base(
        "message",
        service_url=service_url,
        app_id=app_id,
        user=user,
        conversation=_personal_conversation(user, app_id, conversation_id),
        channel_data=_channel_data(user.tenant_id),
        activity_id=activity_id,
        locale=locale,
    )
    activity.update(text=text, textFormat="plain")
    return activity


def channel_mention(
    text: str,
    *,
    service_url: str,
    user: TeamsUser = PRIYA,
    app_id: str = APP_ID,
    bot_name: str = BOT_NAME,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID_QI,
    thread_id: str | None = None,
    activity_id: str | None = None,
) -> dict[str, Any]:
    """A channel post that @mentions the bot: "<at>qi-nudge</at> " + `text`.

    Teams puts the mention in `text` and in a ``mention`` entity, sends an HTML copy as a
    ``text/html`` attachment, and gives the conversation id the thread's root message id
    (";messageid=..."); a new post is its own root unless `thread_id` names another.
    """
    activity_id = activity_id or next_activity_id()
    mention = f"<at>{bot_name}</at>"
    activity = _base(
        "message",
        service_url=service_url,
        app_id=app_id,
        user=user,
        conversation=_channel_conversation(user.tenant_id, channel_id, thread_id or activity_id),
        channel_data=_channel_data(user.tenant_id, team_id, channel_id),
        activity_id=activity_id,
    )
    activity["entities"].insert(
        0,
        {"type": "mention", "text": mention, "mentioned": {"id": f"28:{app_id}", "name": bot_name}},
    )
    html = (
        f'<p><span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">'
        f"{bot_name}</span>&nbsp;{_html_escape(text)}</p>"
    )
    activity.update(
        text=f"{mention} {text}",
        textFormat="plain",
        attachments=[{"contentType": "text/html", "content": html}],
    )
    return activity


def card_action(
    verb: str,
    data: dict[str, Any] | None = None,
    *,
    service_url: str,
    reply_to_id: str,
    inputs: dict[str, Any] | None = None,
    user: TeamsUser = PRIYA,
    app_id: str = APP_ID,
    conversation_id: str | None = None,
    team_id: str | None = None,
    channel_id: str | None = None,
    action_id: str | None = None,
    activity_id: str | None = None,
) -> dict[str, Any]:
    """A click on an ``Action.Execute`` button: invoke ``adaptiveCard/action``.

    `reply_to_id` is the id of the message holding the card. The action's ``data`` is the
    button's `data` with the card's input values (`inputs`, id -> value) merged in, as Teams does
    for ``associatedInputs: "auto"``. In a 1:1 chat by default; with `channel_id`, in a channel
    thread rooted at `reply_to_id`.
    """
    if channel_id is None:
        conversation = _personal_conversation(user, app_id, conversation_id)
        channel_data = _channel_data(user.tenant_id)
    else:
        conversation = _channel_conversation(user.tenant_id, channel_id, reply_to_id)
        channel_data = _channel_data(user.tenant_id, team_id or TEAM_ID, channel_id)
    channel_data["source"] = {"name": "message"}
    activity = _base(
        "invoke",
        service_url=service_url,
        app_id=app_id,
        user=user,
        conversation=conversation,
        channel_data=channel_data,
        activity_id=activity_id or f"f:{next_activity_id()}",
    )
    action: dict[str, Any] = {"type": "Action.Execute", "verb": verb}
    if action_id is not None:
        action["id"] = action_id
    action["data"] = {**(data or {}), **(inputs or {})}
    activity.update(
        name=CARD_ACTION_INVOKE,
        replyToId=reply_to_id,
        value={"action": action, "trigger": "manual"},
    )
    return activity


def install_add(
    *,
    service_url: str,
    user: TeamsUser = PRIYA,
    app_id: str = APP_ID,
    conversation_id: str | None = None,
    activity_id: str | None = None,
) -> dict[str, Any]:
    """``installationUpdate`` with action ``add``: `user` installed the bot for themselves."""
    channel_data = _channel_data(user.tenant_id)
    channel_data["source"] = {"name": "message"}
    activity = _base(
        "installationUpdate",
        service_url=service_url,
        app_id=app_id,
        user=user,
        conversation=_personal_conversation(user, app_id, conversation_id),
        channel_data=channel_data,
        activity_id=activity_id or f"f:{next_activity_id()}",
        locale=None,
    )
    activity["action"] = "add"
    return activity


def team_added(
    *,
    service_url: str,
    user: TeamsUser = PRIYA,
    app_id: str = APP_ID,
    team_id: str = TEAM_ID,
    team_name: str = TEAM_NAME,
    activity_id: str | None = None,
) -> dict[str, Any]:
    """``conversationUpdate`` ``teamMemberAdded``: `user` added the bot to a team.

    The conversation is the team's General channel (whose id is the team's), ``membersAdded``
    holds the bot, and ``channelData.team`` names the team.
    """
    channel_data = _channel_data(user.tenant_id)
    channel_data["team"] = {"id": team_id, "name": team_name, "aadGroupId": TEAM_AAD_GROUP_ID}
    channel_data["eventType"] = "teamMemberAdded"
    activity = _base(
        "conversationUpdate",
        service_url=service_url,
        app_id=app_id,
        user=user,
        conversation=_channel_conversation(user.tenant_id, team_id, None),
        channel_data=channel_data,
        activity_id=activity_id or f"f:{next_activity_id()}",
        locale=None,
    )
    activity["from"] = {"id": user.user_id, "aadObjectId": user.aad_object_id}
    activity["membersAdded"] = [{"id": f"28:{app_id}"}]
    return activity


ACTIVITY_KINDS = {
    "personal": personal_message,
    "channel_mention": channel_mention,
    "card_action": card_action,
    "install": install_add,
    "team_added": team_added,
}
"""The builders by the name `FakeTeams.activity` takes."""


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
