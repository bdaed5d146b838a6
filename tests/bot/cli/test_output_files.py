"""Files the commands write: owner-only, never the database or through a link, no tracebacks.

The `qi-nudge` command's own entry point, as an IT admin runs it, in a folder of the test's own:
in this process (dozens of runs), except for the closed pipe, which needs a real one.
"""

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.bot.cli.test_main import BOTH, qi
from tests.conftest import database_url_for

ASHA = "Asha Patel"  # the example trust's organiser (qi-nudge demo)


@pytest.fixture
def sqlite_trust(tmp_path):
    """The example trust in tmp_path/qi.db; commands run in tmp_path."""
    with database_url_for("sqlite", tmp_path) as url:
        assert qi(url, "demo").returncode == 0
        yield url


def writes(url, folder, *args):
    """`qi-nudge ...` in `folder`, run by its entry point here: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in ("DATABASE_URL", "LOG_LEVEL", "SLACK_BOT_TOKEN")}
    here = Path.cwd()
    os.environ.update(DATABASE_URL=url, LOG_LEVEL="WARNING")
    os.environ.pop("SLACK_BOT_TOKEN", None)
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exit_:  # argparse's own refusals
                status = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(here)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return status, out.getvalue(), err.getvalue()


def one_plain_line(stderr):
    """The error output is one sentence: no traceback, no second line."""
    assert "Traceback" not in stderr
    assert stderr.strip() and "\n" not in stderr.strip(), stderr
    return stderr.strip()


def test_writing_over_the_live_database_is_refused_and_it_stays_whole(sqlite_trust, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "qi.db")
    os.link(tmp_path / "qi.db", tmp_path / "hard")  # the same file by another name
    size = (tmp_path / "qi.db").stat().st_size
    targets = ["qi.db", "qi.db-wal", "qi.db-shm", "qi.db-journal", "sub/../qi.db", "link", "hard"]

    for command in (("export", "memberships"), ("person", "export", ASHA)):
        for target in targets:
            status, _, stderr = writes(sqlite_trust, tmp_path, *command, "--out", target, "--force")

            assert status == 1, (command, target)
            assert "own database" in one_plain_line(stderr)
            assert (tmp_path / "qi.db").stat().st_size == size
    assert ASHA in qi(sqlite_trust, "admin", "list", cwd=tmp_path).stdout  # all still there


def mode(path):
    return stat.S_IMODE(path.lstat().st_mode)


@BOTH
def test_files_with_personal_data_are_for_their_owner_only_and_kept_unless_forced(
    fresh_database_url, tmp_path
):
    url = fresh_database_url
    assert qi(url, "demo", cwd=tmp_path).returncode == 0
    commands = {
        "person.json": ("person", "export", ASHA, "--out"),
        "members.csv": ("export", "memberships", "--out"),
        "signups.csv": ("export", "signups", "--out"),
        "weeks.csv": ("stats", "--csv"),
    }
    for name, command in commands.items():
        path = tmp_path / name
        path.write_text("kept")
        os.chmod(path, 0o644)

        refused = writes(url, tmp_path, *command, name)
        assert refused[0] == 1, name
        assert f"{name} already exists. Add --force to replace it." in refused[2]
        assert path.read_text() == "kept"

        assert writes(url, tmp_path, *command, name, "--force")[0] == 0
        assert path.read_text() != "kept"
        assert mode(path) == 0o600, f"{name} is readable by others: {oct(mode(path))}"

    path = tmp_path / "new.json"
    assert writes(url, tmp_path, "person", "export", ASHA, "--out", path.name)[0] == 0
    assert mode(path) == 0o600  # a new file needs no --force, and is as private
    assert json.loads((tmp_path / "person.json").read_text())["person"]["name"] == ASHA
    # Nothing half-written was left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".part") == []


def test_a_link_at_the_target_is_replaced_with_force_and_never_written_through(
    sqlite_trust, tmp_path
):
    elsewhere = tmp_path / "not-yours.txt"
    elsewhere.write_text("someone else's file")
    (tmp_path / "export.json").symlink_to(elsewhere)

    status, _, stderr = writes(
        sqlite_trust, tmp_path, "person", "export", ASHA, "--out", "export.json"
    )
    assert status == 1
    assert "never writes through a link" in one_plain_line(stderr)
    assert elsewhere.read_text() == "someone else's file"

    forced = writes(
        sqlite_trust, tmp_path, "person", "export", ASHA, "--out", "export.json", "--force"
    )
    assert forced[0] == 0, forced[2]
    assert not (tmp_path / "export.json").is_symlink()
    assert json.loads((tmp_path / "export.json").read_text())["person"]["name"] == ASHA
    assert elsewhere.read_text() == "someone else's file"


def test_a_bad_output_path_is_one_plain_line(sqlite_trust, tmp_path):
    (tmp_path / "a-file").write_text("")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:
        locked = Path("/sys")  # root may write in any folder of an ordinary file system
    cases = {
        "nowhere/out.csv": "There is no folder nowhere",
        str(tmp_path): "is a folder",
        "a-file/out.csv": "a-file is a file, not a folder",
        str(locked / "out.csv"): f"qi-nudge may not write in {locked}",
    }
    for path, said in cases.items():
        status, _, stderr = writes(sqlite_trust, tmp_path, "export", "memberships", "--out", path)
        assert status == 1, path
        assert said in one_plain_line(stderr), path
    # Every command that writes a file says it the same way, before doing any work.
    for command in (("person", "export", ASHA, "--out"), ("stats", "--csv"), ("stats", "--chart")):
        status, _, stderr = writes(sqlite_trust, tmp_path, *command, "nowhere/out")
        assert status == 1, command
        assert "There is no folder nowhere" in one_plain_line(stderr), command


@pytest.mark.parametrize(
    "command", [("export", "memberships"), ("person", "export", ASHA)], ids=["export", "person"]
)
def test_output_into_a_closed_pipe_is_one_plain_line(sqlite_trust, tmp_path, command):
    """`qi-nudge person export ... | head -1`, where head has already gone."""
    reading, writing = os.pipe()
    reader = subprocess.Popen(["true"], stdin=reading)  # reads nothing and exits
    os.close(reading)
    reader.wait(timeout=10)
    env = {**os.environ, "DATABASE_URL": sqlite_trust, "LOG_LEVEL": "WARNING"}
    writer = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        stdout=writing,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    os.close(writing)

    assert writer.returncode == 1
    assert "cut short" in one_plain_line(writer.stderr)
