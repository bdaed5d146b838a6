"""The layout in README's "Where things are", checked: layers, packages and no import circles.

Every import counts, wherever it is written: at the top, inside a function (imported when first
needed) or under TYPE_CHECKING. An import made late still ties the two modules together.
"""

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("bot", "handlers", "store")
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "microsoft_teams", "microsoft_agents", "botbuilder")
# Each a way in from people to the handlers; none may lean on another.
TRANSPORTS = ("bot.slack", "bot.teams", "bot.console")
# The use cases' shared ground, and the modules on top that know every domain.
HANDLERS_CORE = "handlers.core"
HANDLERS_TOP = ("dispatch", "messages", "home", "help", "demo")

Graph = dict[str, set[str]]


def module_name(root: Path, path: Path) -> str:
    """`handlers/forum/slots.py` -> `handlers.forum.slots`; a package's __init__ is the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path, packages: Iterable[str] = SOURCE_PACKAGES) -> dict[str, Path]:
    """Every module of the packages (migrations are Alembic's scripts, not modules we import)."""
    return {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def imports_in(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """Each import in the file: the module it names, and the names it takes from it (if any)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                base = module.split(".")
                keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
                source = ".".join(base[:keep] + ([node.module] if node.module else []))
            found.append((source, [alias.name for alias in node.names]))
    return found


def imported_names(path: Path, module: str) -> set[str]:
    """Every name an import in the file mentions: `from a import b` gives `a` and `a.b`."""
    return {
        name
        for source, taken in imports_in(path, module)
        for name in (source, *(f"{source}.{t}" for t in taken))
    }


def import_graph(root: Path = ROOT, packages: Iterable[str] = SOURCE_PACKAGES) -> Graph:
    """Which of our modules each of our modules imports.

    `from a import b` imports the module a.b when there is one (and a's __init__ only as every
    import of a submodule does, which is not counted), else the name b from the module a.
    """
    files = source_files(root, packages)
    graph: Graph = {}
    for module, path in files.items():
        imported: set[str] = set()
        for source, taken in imports_in(path, module):
            modules = {f"{source}.{t}" for t in taken} & files.keys()
            imported |= modules
            if len(modules) < len(taken) or not taken:
                imported.add(source)
        graph[module] = {name for name in imported if name in files and name != module}
    return graph


def circles(graph: Graph) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def within(module: str, package: str) -> bool:
    """Whether the module is the package or inside it."""
    return module == package or module.startswith(package + ".")


def offending(graph: Graph, rule) -> dict[str, list[str]]:
    """Each module's imports that break the rule(importer, imported) -> bool (True: allowed)."""
    broken = {
        module: sorted(other for other in imports if not rule(module, other))
        for module, imports in graph.items()
    }
    return {module: others for module, others in broken.items() if others}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_no_module_imports_itself_round_a_circle(graph):
    assert circles(graph) == []


def test_no_chat_platform_sdk_below_bot():
    offenders = {
        module: sorted(n for n in imported_names(path, module) if n.split(".")[0] in PLATFORM_SDKS)
        for module, path in source_files(ROOT, ("handlers", "store")).items()
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_store_depends_on_nothing_above_it(graph):
    assert offending(graph, lambda a, b: not within(a, "store") or within(b, "store")) == {}


def test_handlers_never_import_the_bot(graph):
    # Platforms and the runtime import the handlers, never the reverse.
    assert offending(graph, lambda a, b: not within(a, "handlers") or not within(b, "bot")) == {}


def test_the_handlers_core_knows_no_domain(graph):
    def allowed(importer: str, imported: str) -> bool:
        if not within(importer, HANDLERS_CORE) or not within(imported, "handlers"):
            return True
        return within(imported, HANDLERS_CORE)

    assert offending(graph, allowed) == {}


def test_only_the_top_of_handlers_imports_the_top(graph):
    top = {f"handlers.{name}" for name in HANDLERS_TOP}

    def allowed(importer: str, imported: str) -> bool:
        return imported not in top or importer in top or not within(importer, "handlers")

    assert offending(graph, allowed) == {}


def test_transports_do_not_lean_on_each_other(graph):
    def allowed(importer: str, imported: str) -> bool:
        mine = [t for t in TRANSPORTS if within(importer, t)]
        return not mine or not any(within(imported, t) for t in TRANSPORTS if t != mine[0])

    assert offending(graph, allowed) == {}


def test_only_the_cli_imports_the_cli(graph):
    def allowed(importer: str, imported: str) -> bool:
        return not within(imported, "bot.cli") or within(importer, "bot.cli")

    assert offending(graph, allowed) == {}


def test_only_the_cli_wires_commands():
    # Subcommands and their options are declared in bot/cli, nowhere else.
    wiring = {
        module
        for module, path in source_files(ROOT).items()
        if "argparse" in imported_names(path, module)
    }
    assert {m for m in wiring if not within(m, "bot.cli")} == set()
    assert "bot.cli.main" in wiring


def test_every_package_says_what_it_holds():
    undocumented = [
        str(path.relative_to(ROOT))
        for package in SOURCE_PACKAGES
        for path in (ROOT / package).rglob("__init__.py")
        if "migrations" not in path.parts and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert undocumented == []


def test_tests_mirror_the_packages():
    # tests/handlers/forum/ tests handlers/forum/, and so on: a folder of tests names a package.
    strays = [
        str(folder.relative_to(ROOT))
        for top in ("bot", "handlers", "store")
        for folder in (ROOT / "tests" / top).rglob("*")
        if folder.is_dir()
        and folder.name != "__pycache__"
        and not (ROOT / folder.relative_to(ROOT / "tests")).is_dir()
    ]
    assert strays == []


# The guards themselves, on small trees of their own: each would fail if it saw nothing.


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_guard_sees_every_kind_of_import(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "handlers/__init__.py": "",
            "handlers/a.py": (
                "from typing import TYPE_CHECKING\n"
                "from handlers import b\n"
                "if TYPE_CHECKING:\n    from handlers.c import C\n"
                "def later():\n    import handlers.d\n"
            ),
            "handlers/b.py": "from . import c\n",
            "handlers/c.py": "",
            "handlers/d.py": "",
        },
    )
    graph = import_graph(root, ("handlers",))
    assert graph["handlers.a"] == {"handlers.b", "handlers.c", "handlers.d"}
    assert graph["handlers.b"] == {"handlers.c"}


def test_the_guard_finds_a_circle_however_it_is_hidden(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/a.py": "from bot.b import thing\n",
            "bot/b.py": "def f():\n    from bot.c import other\n",
            "bot/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot import a\n"
            ),
            "bot/d.py": "from bot.a import x\n",
        },
    )
    assert circles(import_graph(root, ("bot",))) == [["bot.a", "bot.b", "bot.c"]]


def test_the_guard_names_what_breaks_a_rule():
    graph = {"handlers.core.x": {"handlers.forum.y"}, "handlers.forum.y": {"handlers.core.x"}}
    assert offending(graph, lambda a, b: within(b, HANDLERS_CORE)) == {
        "handlers.core.x": ["handlers.forum.y"]
    }


def readme_layout() -> set[str]:
    """The folders README's "Where things are" lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Where things are", 1)[1]
    block = section.split("```", 2)[1]
    return {line.split()[0] for line in block.splitlines() if line.strip()}


def test_the_readme_names_every_package_and_only_those():
    packages = {
        f"{path.parent.relative_to(ROOT)}/"
        for top in SOURCE_PACKAGES
        for path in (ROOT / top).rglob("__init__.py")
        if "migrations" not in path.parts
    }
    assert readme_layout() == packages - {"bot/"}
