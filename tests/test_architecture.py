"""The layering in ../shared/ARCHITECTURE.md, checked: chat platforms live only in bot/."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_PACKAGES = ("slack_bolt", "slack_sdk", "microsoft_teams", "microsoft_agents", "botbuilder")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["handlers", "store"])
def test_no_chat_platform_sdk_below_bot(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in PLATFORM_PACKAGES
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_store_does_not_depend_on_handlers_or_bot():
    offenders = {
        str(path.relative_to(ROOT)): name
        for path in (ROOT / "store").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in ("handlers", "bot")
    }
    assert offenders == {}


def test_the_guard_sees_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from slack_sdk import WebClient\nimport slack_bolt.app\n")
    assert imported_modules(sample) == {"slack_sdk", "slack_bolt.app"}
