"""Reading Teams messages as commands: personal chats, channel mentions and the command menu."""

import pytest
from microsoft_teams.api.models import Account
from microsoft_teams.api.models.entity.mention_entity import MentionEntity

from bot.teams.commands import bot_mention_texts, parse_command_text

BOT_ID = "28:00000000-0000-0000-0000-000000000001"
BOT_MENTION = "<at>qi-nudge</at>"


@pytest.mark.parametrize(
    "text",
    [
        "qi-join Falls prevention as carer",
        "/qi-join Falls prevention as carer",
        "QI-Join Falls prevention as carer",
        "/QI-JOIN Falls prevention as carer",
        "  qi-join   Falls\n prevention \t as carer  ",
        "qi-join&nbsp;Falls&nbsp;prevention as carer",
        "qi-join\xa0Falls prevention as\u200b carer",
        "<p>qi-join Falls prevention as carer</p>",
        "qi-join Falls<br>prevention as carer",
        "@qi-nudge qi-join Falls prevention as carer",
    ],
)
def test_a_personal_chat_command_however_it_is_typed(text):
    assert parse_command_text(text) == ("qi-join", "Falls prevention as carer")


def test_a_channel_mention_is_stripped_using_the_mention_entity():
    assert parse_command_text("<at>qi-nudge</at> qi-projects mine", bot_mentions=[BOT_MENTION]) == (
        "qi-projects",
        "mine",
    )
    # Wherever it is: after the command too.
    assert parse_command_text("qi-join Falls <at>qi-nudge</at>", bot_mentions=[BOT_MENTION]) == (
        "qi-join",
        "Falls",
    )
    # A bot whose name has several words, as the trust named it.
    named = "<at>QI Nudge (Trust)</at>"
    assert parse_command_text(f"{named}&nbsp;/qi-help", bot_mentions=[named]) == ("qi-help", "")


def test_without_an_entity_a_leading_mention_is_taken_as_the_bot_s():
    assert parse_command_text("<at>QI Nudge</at> qi-stats") == ("qi-stats", "")
    assert parse_command_text('<at id="0">qi-nudge</at>  /qi-leave Falls') == ("qi-leave", "Falls")


def test_other_people_mentioned_are_kept_as_their_names():
    text = "<at>qi-nudge</at> qi-project add <at>Sam Smith</at> as carer"
    assert parse_command_text(text, bot_mentions=[BOT_MENTION]) == (
        "qi-project",
        "add Sam Smith as carer",
    )


def test_entities_typed_by_people_stay_text_and_never_become_mentions_or_tags():
    text = "qi-join Falls &amp; fractures &lt;at&gt;Everyone&lt;/at&gt; &lt;p&gt;"
    assert parse_command_text(text) == ("qi-join", "Falls & fractures <at>Everyone</at> <p>")


def test_the_command_menu_sends_the_command_title_alone():
    assert parse_command_text("qi-help") == ("qi-help", "")
    assert parse_command_text("qi-projects") == ("qi-projects", "")
    assert parse_command_text(f"{BOT_MENTION} qi-forum", bot_mentions=[BOT_MENTION]) == (
        "qi-forum",
        "",
    )


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "&nbsp;",
        BOT_MENTION,
        "hello",
        "help",
        "join Falls",
        "qi-joinx Falls",
        "qi-nudge",
        "please qi-join Falls",
        "@qi-nudge hello",
    ],
)
def test_text_that_is_not_a_command_gives_none(text):
    assert parse_command_text(text, bot_mentions=[BOT_MENTION]) is None


def test_only_known_commands_count():
    assert parse_command_text("qi-secret x", commands={"qi-secret"}) == ("qi-secret", "x")
    assert parse_command_text("qi-join x", commands={"qi-secret"}) is None


def test_bot_mention_texts_reads_sdk_entities_and_raw_json_and_skips_people():
    entities = [
        MentionEntity(mentioned=Account(id=BOT_ID, name="qi-nudge"), text=BOT_MENTION),
        MentionEntity(mentioned=Account(id="29:sam", name="Sam"), text="<at>Sam</at>"),
        {"type": "mention", "mentioned": {"id": BOT_ID}, "text": "<at>QI Nudge</at>"},
        {"type": "clientInfo", "locale": "en-GB"},
        {"type": "mention", "mentioned": {"id": BOT_ID}},
    ]
    assert bot_mention_texts(entities, BOT_ID) == [BOT_MENTION, "<at>QI Nudge</at>"]
    assert bot_mention_texts(None, BOT_ID) == []
