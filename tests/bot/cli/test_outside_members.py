"""`qi-nudge forum` for members outside chat: add, list, remove, import; and public sign-up."""

import pytest
from sqlalchemy import select

from bot.cli.main import build_parser
from handlers.core.errors import Refusal
from handlers.people.personal_data import erase_person, find_person
from store.models import Forum, ForumMember, OutsideContact, Person
from store.roles import Role
from tests.handlers import given


def run(ctx, *argv):
    """A `qi-nudge` subcommand as the command line reads it, on the test database."""
    args = build_parser().parse_args(list(argv))
    return args.handler(ctx, args)


def members(sessions):
    """(name, forum role, method, address, left?) of everyone reached outside chat."""
    with sessions() as session:
        rows = session.execute(
            select(
                Person.display_name,
                ForumMember.role,
                OutsideContact.method,
                OutsideContact.address,
                ForumMember.left_at.is_not(None),
            )
            .join(OutsideContact, OutsideContact.person_id == Person.id)
            .join(ForumMember, ForumMember.person_id == Person.id)
            .order_by(Person.id)
        )
        return [tuple(row) for row in rows]


def test_an_operator_adds_lists_and_removes_members_with_full_addresses(
    ctx, sessions, clock, capsys
):
    given.forum(sessions, clock())
    add = ("forum", "add-member", "Sam Jones", "--email", "sam.jones@nhs.net", "--role", "carer")

    with pytest.raises(Refusal, match="add --consent to the end of the same command"):
        run(ctx, *add)
    assert run(ctx, *add, "--consent") == 0
    assert run(ctx, "forum", "add-member", "Priya", "--text", "07700 900123", "--consent") == 0
    capsys.readouterr()
    assert run(ctx, "forum", "members") == 0
    listed = capsys.readouterr().out
    assert run(ctx, "forum", "remove-member", "Sam Jones") == 0
    removed = capsys.readouterr().out

    assert "• Sam Jones, carer: not reachable (no e-mail or text set up)" in listed
    assert "• Priya: not reachable (no e-mail or text set up)" in listed
    assert removed.startswith('I\'ve taken Sam Jones off "QI Forum".')
    assert "qi-nudge forum add-member" in removed
    assert members(sessions) == [
        ("Sam Jones", Role.CARER, "email", "sam.jones@nhs.net", True),
        ("Priya", None, "text", "+447700900123", False),
    ]
    with sessions() as session:
        # Nobody recorded it in chat: the command line's operator is not a person here.
        assert session.scalars(select(OutsideContact.consent_recorded_by_id)).all() == [None, None]


def test_members_shows_full_addresses_where_sending_is_set_up(sessions, clock, capsys, ctx):
    from dataclasses import replace

    given.forum(sessions, clock())
    run(ctx, "forum", "add-member", "Sam", "--email", "sam@nhs.net", "--role", "carer", "--consent")
    capsys.readouterr()

    assert run(replace(ctx, outside_methods=frozenset({"email"})), "forum", "members") == 0

    assert "• Sam, carer: by e-mail (sam@nhs.net)" in capsys.readouterr().out


MEMBERS_CSV = (
    "Name,Method,Address,Role,Consent\n"
    "Sam Jones,email,sam.jones@nhs.net,carer,yes\n"
    "Priya Shah,text,07700 900123,service user,Yes\n"
    "No Consent,email,nc@nhs.net,carer,no\n"
    "Pigeon Post,pigeon,loft 3,carer,yes\n"
    "Bad Address,email,not-an-address,carer,yes\n"
    "Sam J,email,SAM.JONES@nhs.net,carer,yes\n"
    "Erased Earlier,email,gone@nhs.net,carer,yes\n"
    "Odd Role,email,odd@nhs.net,wizard,yes\n"
)


def erased_earlier(ctx, sessions, clock):
    """Someone once added at gone@nhs.net, then erased at their request."""
    run(ctx, "forum", "add-member", "Gone", "--email", "gone@nhs.net", "--consent")
    with sessions.begin() as session:
        erase_person(session, find_person(session, "gone@nhs.net").id, now=clock())


def test_a_members_file_is_imported_row_by_row_and_bad_rows_lose_nothing(
    ctx, sessions, clock, capsys, tmp_path
):
    given.forum(sessions, clock())
    erased_earlier(ctx, sessions, clock)
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS_CSV, encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    capsys.readouterr()

    status = run(ctx, "forum", "import-members", str(path))

    said = capsys.readouterr().out.splitlines()
    assert status == 1  # some rows were skipped
    assert said[:8] == [
        "line 2, Sam Jones: added",
        "line 3, Priya Shah: added",
        'line 4, No Consent: skipped: consent must be "yes", once they have agreed to hear about '
        "the forum this way",
        'line 5, Pigeon Post: skipped: method must be "email" or "text"',
        "line 6, Bad Address: skipped: 'not-an-address' doesn't look like an e-mail address "
        "(An email address must have an @-sign.).",
        "line 7, Sam J: already a member at that address: nothing changed",
        "line 8, Erased Earlier: skipped: someone at this address asked for their details to be "
        "erased, so they are not added again from a file. If they have asked to be added, use "
        "qi-nudge forum add-member",
        'line 9, Odd Role: skipped: I don\'t know the role "wizard". The roles are: staff, '
        "service user, carer, peer supporter, other.",
    ]
    assert said[8] == "Added 2 new; 1 already reached; 5 rows skipped."
    assert members(sessions) == [
        ("Sam Jones", Role.CARER, "email", "sam.jones@nhs.net", False),
        ("Priya Shah", Role.SERVICE_USER, "text", "+447700900123", False),
    ]


def test_a_dry_run_says_what_would_happen_and_saves_nothing(ctx, sessions, clock, capsys, tmp_path):
    given.forum(sessions, clock())
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS_CSV)
    before = given.row_counts(sessions)

    run(ctx, "forum", "import-members", str(path), "--dry-run")

    said = capsys.readouterr().out
    assert "line 2, Sam Jones: would be added" in said
    assert "line 7, Sam J: already a member at that address: nothing would change" in said
    assert "(nothing was saved: --dry-run)." in said
    assert given.row_counts(sessions) == before


def test_a_mistyped_path_or_a_file_without_the_columns_is_explained(ctx, sessions, clock, tmp_path):
    given.forum(sessions, clock())
    wrong = tmp_path / "members.csv"
    wrong.write_text("Name,Email\nSam,sam@nhs.net\n")

    with pytest.raises(Refusal, match=r"There is no file at .*nowhere\.csv\. Check the name"):
        run(ctx, "forum", "import-members", str(tmp_path / "nowhere.csv"))
    with pytest.raises(Refusal) as refused:
        run(ctx, "forum", "import-members", str(wrong))

    assert str(refused.value) == (
        "members.csv needs the columns name, method, address, role, consent in its first line; "
        "it has no method, address, role, consent."
    )


def test_public_signup_is_turned_on_and_off(ctx, sessions, clock, capsys):
    given.forum(sessions, clock())

    run(ctx, "forum", "set", "QI Forum", "--public-signup", "on")
    with sessions() as session:
        on = session.scalars(select(Forum.public_signup)).one()
    run(ctx, "forum", "set", "QI Forum", "--public-signup", "off")
    with sessions() as session:
        off = session.scalars(select(Forum.public_signup)).one()

    said = capsys.readouterr().out
    assert (on, off) == (True, False)
    assert "Anyone can sign up to it on its public web page." in said
    assert "Its public sign-up page is off" in said


# --- review fixes: what an import must not do ---------------------------------------------------


def test_an_import_never_turns_back_on_messages_someone_asked_to_stop(
    ctx, sessions, clock, capsys, tmp_path
):
    given.forum(sessions, clock())
    run(ctx, "forum", "add-member", "Sam Jones", "--email", "sam@nhs.net", "--consent")
    with sessions.begin() as session:
        session.scalar(select(OutsideContact)).stopped_at = clock()
    path = tmp_path / "members.csv"
    path.write_text("name,method,address,role,consent\nSam Jones,email,SAM@nhs.net,carer,yes\n")
    capsys.readouterr()

    status = run(ctx, "forum", "import-members", str(path))

    assert status == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "line 2, Sam Jones: skipped: they asked for no more messages, so a file does not turn "
        "them back on. If they have asked to hear again, use qi-nudge forum add-member"
    )
    with sessions() as session:
        assert session.scalar(select(OutsideContact)).stopped_at == clock()


def test_a_file_that_is_not_csv_or_uses_semicolons_is_explained_and_adds_nothing(
    ctx, sessions, clock, tmp_path
):
    given.forum(sessions, clock())
    huge = tmp_path / "huge.csv"
    huge.write_text("name,method,address,role,consent\n" + "x" * 200_000 + ",email\n")
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("name;method;address;role;consent\nSam;email;sam@nhs.net;carer;yes\n")
    before = given.row_counts(sessions)

    with pytest.raises(Refusal, match=r"couldn't read huge\.csv as a CSV file .*Nothing was added"):
        run(ctx, "forum", "import-members", str(huge))
    with pytest.raises(Refusal, match="separated by semicolons or tabs: save it as CSV"):
        run(ctx, "forum", "import-members", str(semicolons))

    assert given.row_counts(sessions) == before


def test_a_row_without_a_name_is_skipped_saying_so(ctx, sessions, clock, capsys, tmp_path):
    given.forum(sessions, clock())
    path = tmp_path / "members.csv"
    path.write_text("name,method,address,role,consent\n,email,sam@nhs.net,carer,yes\n")
    capsys.readouterr()

    run(ctx, "forum", "import-members", str(path))

    assert capsys.readouterr().out.splitlines()[0] == "line 2, (no name): skipped: it has no name"
