"""`qi-nudge teams package`: a zip Teams accepts, with the same commands as everywhere else."""

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from argparse import Namespace
from pathlib import Path

import pytest
from PIL import Image

from bot.cli.teams import cmd_teams_package
from bot.runtime.settings import load_settings
from bot.teams.package import (
    COMMANDS,
    PackageError,
    build_app_package,
    check_domain,
    check_version,
)
from handlers import dispatch
from tests.fakes.teams_rules import manifest_problems

ROOT = Path(__file__).resolve().parents[3]
APP_ID = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
TENANT_ID = "9e8d7c6b-5a49-4837-a261-50f4e3d2c1b0"
TEAMS_ENV = {
    "TEAMS_APP_ID": APP_ID,
    "TEAMS_APP_PASSWORD": "s3cret-pw",
    "TEAMS_TENANT_ID": TENANT_ID,
}
WHITE = (255, 255, 255)


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return unzip(build_app_package(APP_ID, domain="qi.example.nhs.uk", version="1.2.3"))


@pytest.fixture(scope="module")
def manifest(files) -> dict:
    return json.loads(files["manifest.json"])


def test_the_zip_root_holds_exactly_the_manifest_and_two_icons(files):
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]


def test_the_same_settings_build_the_same_bytes():
    first = build_app_package(APP_ID, domain="qi.example.nhs.uk", version="1.0.0")
    assert first == build_app_package(APP_ID, domain="qi.example.nhs.uk", version="1.0.0")


def test_manifest_names_the_app_and_bot_by_the_app_id(manifest):
    assert manifest["manifestVersion"] == "1.19"
    assert manifest["$schema"] == (
        "https://developer.microsoft.com/json-schemas/teams/v1.19/MicrosoftTeams.schema.json"
    )
    assert manifest["version"] == "1.2.3"
    assert manifest["id"] == APP_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert manifest["validDomains"] == ["qi.example.nhs.uk"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["accentColor"].lower() == "#005eb8"  # NHS blue


@pytest.mark.parametrize(
    ("domain", "version"),
    [("qi.example.nhs.uk", "1.2.3"), (f"{'q' * 63}.{'i' * 63}.trust.nhs.uk", "999.999.999")],
)
def test_the_manifest_meets_microsofts_published_schema_for_its_version(domain, version):
    built = unzip(build_app_package(APP_ID, domain=domain, version=version))

    assert manifest_problems(json.loads(built["manifest.json"])) == []


def test_manifest_respects_teams_limits(manifest):
    developer = manifest["developer"]
    assert len(developer["name"]) <= 32
    assert developer["websiteUrl"] == "https://qi.example.nhs.uk/"
    assert developer["privacyUrl"] == "https://qi.example.nhs.uk/privacy"
    assert developer["termsOfUseUrl"] == "https://qi.example.nhs.uk/terms"
    assert 0 < len(manifest["name"]["short"]) <= 30
    assert len(manifest["name"]["full"]) <= 100
    assert 0 < len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["short"]) < len(manifest["description"]["full"]) <= 4000
    assert "lived experience" in manifest["description"]["full"]
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", manifest["id"])


def test_each_scope_has_a_menu_of_exactly_the_dispatchers_commands(manifest):
    [bot] = manifest["bots"]
    lists = bot["commandLists"]
    assert len(lists) <= 3
    assert [scopes for entry in lists for scopes in entry["scopes"]] == bot["scopes"]
    for entry in lists:
        commands = entry["commands"]
        assert [command["title"] for command in commands] == list(dispatch.COMMANDS)
        assert len(commands) <= 10
        for command in commands:
            assert 0 < len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128, command


def test_commands_say_what_the_slack_manifest_says(manifest):
    yaml = pytest.importorskip("yaml")
    slack = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yml").read_text())
    from_slack = {
        command["command"].lstrip("/"): (command["description"], command.get("usage_hint", ""))
        for command in slack["features"]["slash_commands"]
    }
    assert from_slack == COMMANDS
    menu = manifest["bots"][0]["commandLists"][0]["commands"]
    described = {command["title"]: command["description"] for command in menu}
    assert described["qi-leave"] == "Leave a project team or the forum: [project | forum]"
    assert described["qi-forum"] == (
        'The next QI forum meetings, and say if you will come: [forum | slot "Project" '
        '"What about" | meetings | slots | members]'
    )


def test_color_icon_is_192_square_in_full_colour(files):
    icon = Image.open(io.BytesIO(files["color.png"]))
    assert icon.format == "PNG"
    assert icon.size == (192, 192)
    assert icon.mode == "RGB"
    colours = {colour for _, colour in icon.getcolors(maxcolors=192 * 192)}
    assert {(0x00, 0x5E, 0xB8), WHITE} <= colours  # a white mark on NHS blue
    assert icon.getpixel((0, 0)) == icon.getpixel((191, 191)) == (0x00, 0x5E, 0xB8)


def test_outline_icon_is_32_square_white_on_transparent_only(files):
    icon = Image.open(io.BytesIO(files["outline.png"]))
    assert icon.format == "PNG"
    assert icon.size == (32, 32)
    assert icon.mode == "RGBA"
    pixels = {pixel for _, pixel in icon.getcolors(maxcolors=32 * 32)}
    assert {pixel[:3] for pixel in pixels} == {WHITE}  # nothing but white, more or less opaque
    alphas = {pixel[3] for pixel in pixels}
    assert 0 in alphas and 255 in alphas
    assert icon.getpixel((0, 0))[3] == icon.getpixel((31, 31))[3] == 0  # transparent around


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("qi-nudge.trust.nhs.uk", "qi-nudge.trust.nhs.uk"),
        ("QI.Trust.NHS.uk", "qi.trust.nhs.uk"),
        ("https://qi.trust.nhs.uk/api/messages", "qi.trust.nhs.uk"),
    ],
)
def test_domain_is_a_host_name_and_a_pasted_address_is_forgiven(given, host):
    assert check_domain(given) == host


@pytest.mark.parametrize("given", ["localhost", "qi nudge.nhs.uk", "https://", "qi.nhs.uk/bot", ""])
def test_a_domain_that_is_not_a_host_name_is_explained(given):
    with pytest.raises(PackageError, match=r"--domain: .* is not a host name like"):
        check_domain(given)


@pytest.mark.parametrize("given", ["1.0", "v1.0.0", "1.0.0-beta", "01.0.0", "one"])
def test_a_version_that_is_not_three_numbers_is_explained(given):
    with pytest.raises(PackageError, match=r"--version: .* is not a version like 1\.0\.0"):
        check_version(given)


def test_bad_options_are_refused_kindly_and_nothing_is_written(tmp_path, capsys):
    settings = load_settings(TEAMS_ENV, env_file=None)
    out = tmp_path / "app.zip"
    args = Namespace(out=str(out), domain="not a host", version="1.0.0")

    assert cmd_teams_package(settings, args) == 1
    assert "--domain" in capsys.readouterr().err
    assert not out.exists()


def test_importing_the_package_builder_does_not_load_the_teams_sdk():
    probe = "import sys, bot.teams.package; print([m for m in sys.modules if 'microsoft' in m])"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def qi(tmp_path, *args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMS_", "SLACK_"))}
    clean |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}", "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "teams", "package", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=tmp_path,  # no .env of the developer's is read
        timeout=60,
        check=False,
    )


def test_without_teams_app_id_it_refuses_kindly(tmp_path):
    result = qi(tmp_path)

    assert result.returncode == 1
    assert "TEAMS_APP_ID is not set" in result.stderr
    assert "Putting it on Teams" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []  # no zip, and no database either


def test_end_to_end_writes_the_package_where_asked(tmp_path):
    out = tmp_path / "for-teams" / "qi-nudge.zip"
    out.parent.mkdir()
    result = qi(
        tmp_path,
        "--out",
        str(out),
        "--domain",
        "qi-nudge.trust.nhs.uk",
        "--version",
        "2.0.1",
        **TEAMS_ENV,
    )

    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout
    assert "example address" not in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr
    written = unzip(out.read_bytes())
    assert sorted(written) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(written["manifest.json"])
    assert (manifest["id"], manifest["version"]) == (APP_ID, "2.0.1")
    assert manifest["validDomains"] == ["qi-nudge.trust.nhs.uk"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["for-teams"]
