"""The README is a newcomer's map: every file it names exists, and every command is in its table."""

import re
from pathlib import Path

from handlers.dispatch import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# A path in the repository as the README writes it: `handlers/forum/`, `bot/cli/main.py`.
PATH = re.compile(r"(?<![\w./-])((?:bot|handlers|store|tests|bench|deploy|docs)/[\w./-]*)")


def named_paths(text: str) -> set[str]:
    """Every repository path the text names (a trailing full stop is the sentence's)."""
    return {match.rstrip(".") for match in PATH.findall(text)}


def command_table(text: str) -> str:
    """The README's table of chat commands: the rows that start with a command."""
    return "\n".join(line for line in text.splitlines() if line.startswith("| `/qi-"))


def test_every_path_the_readme_names_is_in_the_repository():
    missing = sorted(path for path in named_paths(README) if not (ROOT / path).exists())
    assert missing == []


def test_the_command_table_lists_every_chat_command():
    table = command_table(README)
    assert [name for name in COMMANDS if f"`/{name}" not in table] == []


def test_the_checks_see_what_they_look_for():
    text = "Edit `handlers/forum/slots.py` or bot/nowhere.py. See docs/teams-design.md.\n"
    assert named_paths(text) == {
        "handlers/forum/slots.py",
        "bot/nowhere.py",
        "docs/teams-design.md",
    }
    assert command_table("| `/qi-join` | Join. |\n| Other | row |") == "| `/qi-join` | Join. |"
