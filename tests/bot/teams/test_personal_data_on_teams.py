"""Someone who only looked around on Teams is found by export and erase, by what they give."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from handlers.core.errors import Refusal
from store.models import ChatAddress, Person
from tests.bot.cli.test_people import run
from tests.fakes.teams_signing import PRIYA, TENANT_ID
from tests.fakes.teams_signing import personal_conversation_id as chat_with


def _addresses(bot) -> int:
    with bot.ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(ChatAddress))


@pytest.mark.parametrize(
    "spec",
    [PRIYA.email, f"teams:{TENANT_ID}:{PRIYA.user_id}", f"teams:{TENANT_ID}:{PRIYA.aad_object_id}"],
    ids=["e-mail", "teams id", "entra id"],
)
def test_installing_and_looking_around_is_exported_and_erased_by_the_address_they_give(
    teams_bot, capsys, spec
):
    teams_bot.post(teams_bot.fake.activity("install"))
    teams_bot.settle()
    teams_bot.say("qi-projects mine")
    with teams_bot.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0  # looking only

    assert run(teams_bot.ctx, "person", "export", spec) == 0
    exported = json.loads(capsys.readouterr().out)
    assert run(teams_bot.ctx, "person", "erase", spec, "--yes") == 0
    said = capsys.readouterr().out

    held = json.dumps(exported["chat_addresses"])
    assert PRIYA.user_id in held and PRIYA.aad_object_id in held and chat_with(PRIYA) in held
    assert said.startswith("Erased how to reach")
    assert _addresses(teams_bot) == 0
    with pytest.raises(Refusal):
        run(teams_bot.ctx, "person", "export", spec)


def test_the_teams_id_of_someone_who_used_the_bot_finds_them_for_export_and_erasure(
    teams_bot, capsys
):
    teams_bot.post(teams_bot.fake.activity("install"))
    teams_bot.settle()
    teams_bot.say('qi-project new "Falls prevention"')  # now a person here, as Priya Shah
    spec = f"teams:{TENANT_ID}:{PRIYA.user_id}"  # the "29:" id an admin may be given

    assert run(teams_bot.ctx, "person", "export", spec) == 0
    exported = json.loads(capsys.readouterr().out)
    assert run(teams_bot.ctx, "person", "erase", spec, "--yes") == 0
    said = capsys.readouterr().out

    assert exported["person"]["name"] == "Priya Shah"
    assert exported["projects_led"] == ["Falls prevention"]
    assert PRIYA.user_id in json.dumps(exported["chat_addresses"])
    assert said.startswith("Erased Priya Shah (#")
    assert "These projects now have no lead" in said
    with teams_bot.ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0
    assert _addresses(teams_bot) == 0
