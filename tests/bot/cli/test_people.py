"""`qi-nudge person` and `admin`: export, erase and link one person's data from the command line."""

import json

import pytest
from sqlalchemy import func, select

from bot.cli.main import build_parser
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.reply import Actor
from store.addresses import remember_address
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import ChatAddress, ErasedAddress, Person
from store.names import name_key
from store.people import email_digest, ensure_person_for_identity
from tests.handlers import given

SLACK_BEN = Actor("slack", "T1", "U1", "Ben O", verified_email="ben@example.org")


TEAMS_BEN = Actor("teams", "tenant-1", "29:1ben", "Ben Okafor", verified_email="ben@nhs.net")


def run(ctx, *argv):
    """A `qi-nudge` subcommand as the command line reads it, on the test database."""
    args = build_parser().parse_args(list(argv))
    handler = args.handler_by_action[args.action] if args.command == "person" else args.handler
    return handler(ctx, args)


def test_person_link_asks_first_then_merges_and_export_lists_both_accounts(
    ctx, chat, asha, sessions, clock, capsys
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(SLACK_BEN, "/qi-join falls as carer")
    chat.say(TEAMS_BEN, '/qi-project new "Sepsis screening"')

    with pytest.raises(Refusal, match="Run again with --yes") as asked:
        run(ctx, "person", "link", "slack:T1:U1", "teams:tenant-1:29:1ben")
    assert "merges Ben Okafor (#" in asked.value.reply.text
    assert count(sessions, Person) == 3  # asking changed nothing

    assert run(ctx, "person", "link", "slack:T1:U1", "teams:tenant-1:29:1ben", "--yes") == 0

    said = capsys.readouterr().out
    assert "Linked Ben Okafor" in said and "into Ben O" in said
    assert "their Microsoft Teams account" in said
    assert "1 project they lead" in said
    assert count(sessions, Person) == 2
    run(ctx, "person", "export", "Ben O")
    exported = json.loads(capsys.readouterr().out)
    assert sorted(i["platform"] for i in exported["chat_identities"]) == ["slack", "teams"]
    assert exported["projects_led"] == ["Sepsis screening"]
    assert [t["project"] for t in exported["project_teams"]] == ["Falls prevention"]
    # Ben on Teams now sees the team he joined on Slack.
    assert "Falls prevention" in chat.say(TEAMS_BEN, "/qi-projects mine").text


def test_person_link_needs_two_people_and_refuses_one_twice(ctx, chat, sessions, clock):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")

    with pytest.raises(Refusal, match="Say which two records"):
        run(ctx, "person", "link", "Ben O")
    with pytest.raises(Refusal, match="nothing to link"):
        run(ctx, "person", "link", "Ben O", "slack:T1:U1")
    with pytest.raises(Refusal, match="Nobody is called"):
        run(ctx, "person", "link", "Ben O", "Nobody Here", "--yes")


def count(sessions, model):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_teams_account_held_alone_can_be_exported_and_erased_from_the_command_line(
    ctx, sessions, clock, capsys
):
    """Someone who only installed the bot on Teams: how to reach them is all that is held."""
    with sessions.begin() as session:
        remember_address(
            session,
            platform="teams",
            workspace="tenant-1",
            user_id="aad-1",
            address={"serviceUrl": "https://smba.example", "userId": "29:1x"},
            dm_channel="a:1conversation",
            now=clock(),
        )

    assert run(ctx, "person", "export", "teams:tenant-1:aad-1") == 0
    exported = json.loads(capsys.readouterr().out)
    with pytest.raises(Refusal, match="Run again with --yes"):
        run(ctx, "person", "erase", "teams:tenant-1:aad-1")
    assert count(sessions, ChatAddress) == 1  # asking changed nothing
    assert run(ctx, "person", "erase", "teams:tenant-1:aad-1", "--yes") == 0
    said = capsys.readouterr().out

    assert exported["person"] is None
    assert "29:1x" in json.dumps(exported["chat_addresses"])
    assert said.startswith("Erased how to reach teams:tenant-1:aad-1 on Microsoft Teams")
    assert count(sessions, ChatAddress) == 0
    with pytest.raises(Refusal, match="Nobody has the chat identity"):
        run(ctx, "person", "export", "teams:tenant-1:aad-1")


REGISTER = (
    "Project name,Lead,Site,Status\n"
    "Falls prevention,asha.patel@nhs.example,Ward 4,active\n"
    "Kinder discharge,Sam Jones,Ward 9,active\n"
    "Sepsis screening,ben@example.org,Ward 2,active\n"
)


def test_an_erased_lead_is_not_brought_back_by_the_register_and_the_import_says_why(
    ctx, chat, sessions, clock, tmp_path, capsys
):
    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")  # Ben uses Slack, which verified his address
    assert run(ctx, "import-projects", str(register)) == 0
    capsys.readouterr()

    for who in ("asha.patel@nhs.example", "Sam Jones", "ben@example.org"):
        assert run(ctx, "person", "erase", who, "--yes") == 0
        assert "remove them from it too" in capsys.readouterr().out
    assert run(ctx, "import-projects", str(register)) == 1  # the routine weekly import
    out, err = capsys.readouterr()

    assert err.count("asked for their details to be erased") == 3
    assert "line 2: skipped: the lead asked" in err and "remove them from the register" in err
    assert "0 new, 0 updated, 0 unchanged, 3 rows skipped" in out
    assert count(sessions, Person) == 0  # nobody came back
    with sessions() as session:
        kept = " ".join(session.scalars(select(ErasedAddress.digest)))
    assert kept and "asha" not in kept.lower()
    assert email_digest("asha.patel@nhs.example") not in kept  # keyed, not a plain digest


def test_a_person_on_chat_is_found_by_the_address_their_platform_verified(
    ctx, chat, sessions, clock, capsys
):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")  # Slack verified ben@example.org; only its digest is kept

    assert run(ctx, "person", "export", "ben@example.org") == 0
    exported = json.loads(capsys.readouterr().out)

    assert exported["person"]["name"] == "Ben O"


def test_an_erased_person_is_not_left_in_the_write_ahead_log_while_serve_is_running(
    tmp_path, clock, capsys
):
    """serve keeps connections open, so SQLite never empties its -wal file on its own."""
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    with ctx.sessions.begin() as session:
        for name in ("Someone Staying", "Zanele Okonkwo-Marsh"):
            ensure_person_for_identity(
                session,
                platform="slack",
                workspace="T1",
                user_id=name_key(name),
                display_name=name,
                now=clock(),
            )
    serve = make_engine(url)  # another process's pool, holding an idle connection open
    with serve.connect() as connection:
        connection.execute(select(func.count()).select_from(Person))
        connection.commit()
    try:
        assert run(ctx, "person", "erase", "Zanele Okonkwo-Marsh", "--yes") == 0
        said = capsys.readouterr().out

        on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("qi.db"))
        assert b"Someone Staying" in on_disk  # the files are readable as they are
        assert b"Okonkwo-Marsh" not in on_disk
        assert "write-ahead log" not in said  # emptied: nothing for the admin to do
    finally:
        serve.dispose()
        engine.dispose()


def test_an_erased_lead_named_in_the_register_by_name_only_stays_erased_after_linking_chat(
    ctx, chat, sessions, clock, tmp_path, capsys
):
    register = tmp_path / "register.csv"
    register.write_text("Project name,Lead,Site,Status\nKinder discharge,Ben O,Ward 9,active\n")
    assert run(ctx, "import-projects", str(register)) == 0
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")  # Ben arrives on Slack, which verified his address
    with sessions() as session:
        lead_number = session.scalar(select(func.min(Person.id)))
    assert run(ctx, "person", "link", f"#{lead_number}", "slack:T1:U1", "--yes") == 0
    assert run(ctx, "person", "erase", "Ben O", "--yes") == 0
    capsys.readouterr()

    assert run(ctx, "import-projects", str(register)) == 1
    out, err = capsys.readouterr()

    assert "line 2: skipped: the lead asked" in err
    assert "0 new, 0 updated, 0 unchanged, 1 row skipped" in out
    assert count(sessions, Person) == 0


def test_every_chat_address_with_an_e_mail_address_is_exported_and_erased_by_it(
    ctx, sessions, clock, capsys
):
    """One user, reached through two tenants' bots: both addresses are theirs."""
    with sessions.begin() as session:
        for tenant in ("tenant-1", "tenant-2"):
            remember_address(
                session,
                platform="teams",
                workspace=tenant,
                user_id=f"aad-{tenant}",
                address={"serviceUrl": "https://smba.example", "userId": f"29:{tenant}"},
                email_sha256=email_digest("kim@nhs.example"),
                now=clock(),
            )

    assert run(ctx, "person", "export", "kim@nhs.example") == 0
    exported = json.loads(capsys.readouterr().out)
    assert run(ctx, "person", "erase", "kim@nhs.example", "--yes") == 0
    said = capsys.readouterr().out

    assert [a["workspace"] for a in exported["chat_addresses"]] == ["tenant-1", "tenant-2"]
    assert "teams:tenant-1:aad-tenant-1" in said and "teams:tenant-2:aad-tenant-2" in said
    assert count(sessions, ChatAddress) == 0


def test_an_e_mail_address_two_people_share_is_refused_even_with_a_teams_address_for_it(
    ctx, chat, sessions, clock
):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")
    chat.say(
        Actor("slack", "T2", "U9", "Ben Other", verified_email="ben@example.org"), "/qi-join forum"
    )
    with sessions.begin() as session:
        remember_address(
            session,
            platform="teams",
            workspace="tenant-1",
            user_id="aad-ben",
            address={"serviceUrl": "https://smba.example", "userId": "29:1ben"},
            email_sha256=email_digest("ben@example.org"),
            now=clock(),
        )

    with pytest.raises(Refusal, match="2 people have the e-mail address"):
        run(ctx, "person", "erase", "ben@example.org", "--yes")
    assert count(sessions, Person) == 2 and count(sessions, ChatAddress) == 1


def test_erasure_says_so_when_a_reader_keeps_the_write_ahead_log_from_being_emptied(
    tmp_path, clock, capsys, monkeypatch
):
    import sqlite3

    import store.engine

    monkeypatch.setattr(store.engine, "CHECKPOINT_TRIES", 1)  # one try (a second), not five
    url = f"sqlite:///{tmp_path / 'qi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context(sessions=make_sessions(engine), clock=clock)
    with ctx.sessions.begin() as session:
        ensure_person_for_identity(
            session, platform="slack", workspace="T1", user_id="U1", display_name="Zed", now=clock()
        )
    reader = sqlite3.connect(tmp_path / "qi.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM people").fetchall()  # a long read, mid-transaction
    try:
        assert run(ctx, "person", "erase", "Zed", "--yes") == 0
        said = capsys.readouterr().out
    finally:
        reader.close()
        engine.dispose()

    assert said.startswith("Erased Zed (#")
    assert "could not be emptied now" in said and "stop qi-nudge serve" in said
