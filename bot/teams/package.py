"""`qi-nudge teams package`: the Teams app package (manifest and icons), zipped for upload.

Deliberately free of the Teams SDK: building a zip needs only the app id, json and Pillow.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

# Manifest 1.19: the version in the design. Microsoft has published newer ones since (1.27 in
# April 2026) and still accepts every earlier one; nothing newer is needed by a bot with a
# command menu, and 1.19's tighter limits on commands (checked below) hold under all of them.
MANIFEST_VERSION = "1.19"
MANIFEST_SCHEMA = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}"
    "/MicrosoftTeams.schema.json"
)
NHS_BLUE = "#005EB8"
DEFAULT_DOMAIN = "qi-nudge.example.nhs.uk"
DEFAULT_VERSION = "1.0.0"
DEFAULT_OUT = "qi-nudge-teams.zip"
SCOPES = ("personal", "team", "groupChat")
COLOR_ICON, OUTLINE_ICON = "color.png", "outline.png"

# The same words as deploy/slack-manifest.yml (description, usage hint), so that the two menus
# say the same thing; tests/bot/teams/test_package.py holds them together.
COMMANDS: dict[str, tuple[str, str]] = {
    "qi-join": (
        "Join a QI project team or the QI forum",
        "[project] as [staff | service user | carer | peer supporter | other]",
    ),
    "qi-leave": ("Leave a project team or the forum", "[project | forum]"),
    "qi-projects": (
        "See active projects and who is on their teams",
        "[mine | a site | a word to search]",
    ),
    "qi-project": (
        "Start a project or look after its team",
        'new | show | status | add-member | edit-member | remove-member "Project" ["Name"]',
    ),
    "qi-forum": (
        "The next QI forum meetings, and say if you will come",
        '[forum | slot "Project" "What about" | meetings | slots | members]',
    ),
    "qi-stats": (
        "How many projects have a service user or carer, week by week",
        '[a site | forum | notes | note 2/3/2026 "What changed"]',
    ),
    "qi-help": ("What qi-nudge can do, in plain English", "[command]"),
}

SHORT_DESCRIPTION = "Helps QI projects include service users and carers."
FULL_DESCRIPTION = (
    "qi-nudge helps NHS Quality Improvement (QI) projects include people with lived experience "
    "(service users and carers) on their teams. Anyone can join a project team or the QI forum "
    "with qi-join, saying in what role. Project leads are asked, early and kindly, who with "
    "lived experience is on their team, and can ask the forum for someone to join them. Forum "
    "meetings, where staff and people with lived experience meet as equals, are announced with "
    "buttons to say who is coming. qi-stats shows, week by week on a run chart, how many "
    "projects have a service user or carer on the team. Type qi-help to see everything it does."
)

HOST_NAME = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
SEMVER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")


class PackageError(ValueError):
    """The package cannot be built as asked; the message says what to do instead."""


def command_description(name: str) -> str:
    """A command's description in the Teams menu: what it does, then how it is typed."""
    description, usage = COMMANDS[name]
    return f"{description}: {usage}" if usage else description


def check_domain(text: str) -> str:
    """The host name Teams reaches the bot at; a pasted https:// address is forgiven."""
    host = (urlsplit(text).hostname or "") if "://" in text else text.strip().rstrip("/")
    if not HOST_NAME.fullmatch(host.lower()):
        raise PackageError(
            f"--domain: {text!r} is not a host name like {DEFAULT_DOMAIN}. Give the address "
            "where Teams will reach the bot, without https:// or a path."
        )
    return host.lower()


def check_version(text: str) -> str:
    """A version of three numbers, as Teams asks (semver, MAJOR.MINOR.PATCH)."""
    if not SEMVER.fullmatch(text.strip()):
        raise PackageError(
            f"--version: {text!r} is not a version like {DEFAULT_VERSION} (three numbers). "
            "Raise it each time you upload a changed package, so Teams replaces the old one."
        )
    return text.strip()


def build_manifest(app_id: str, *, domain: str, version: str) -> dict[str, Any]:
    """manifest.json: the app, its bot and the command menu for each place it can be used."""
    site = f"https://{domain}"
    commands = [{"title": name, "description": command_description(name)} for name in COMMANDS]
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {
            "name": "qi-nudge",
            "websiteUrl": f"{site}/",
            "privacyUrl": f"{site}/privacy",
            "termsOfUseUrl": f"{site}/terms",
        },
        "name": {"short": "qi-nudge", "full": "qi-nudge: lived experience on QI project teams"},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": NHS_BLUE,
        "bots": [
            {
                "botId": app_id,
                "scopes": list(SCOPES),
                "isNotificationOnly": False,
                "supportsFiles": False,
                "commandLists": [{"scopes": [scope], "commands": commands} for scope in SCOPES],
            }
        ],
        "validDomains": [domain],
    }


# The mark: a speech bubble with "QI" cut out of it, drawn from shapes (no font, so it looks
# the same on every machine) in a unit square, eight times over size and then averaged down.
SUPERSAMPLE = 8


def _mark_mask(size: int, margin: float) -> Image.Image:
    """A size x size mask: 255 where the mark is, 0 around it and in its letters."""
    big = size * SUPERSAMPLE
    inset, span = margin * big, big * (1 - 2 * margin)

    def at(x: float, y: float) -> tuple[float, float]:
        return inset + x * span, inset + y * span

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (*at(x0, y0), *at(x1, y1))

    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    draw.rounded_rectangle(box(0.0, 0.08, 1.0, 0.78), radius=0.18 * span, fill=255)
    draw.polygon([at(0.18, 0.70), at(0.42, 0.70), at(0.14, 0.96)], fill=255)
    stroke = 0.085
    draw.ellipse(box(0.19, 0.19, 0.57, 0.67), fill=0)  # Q
    draw.ellipse(box(0.19 + stroke, 0.19 + stroke, 0.57 - stroke, 0.67 - stroke), fill=255)
    draw.line([at(0.44, 0.50), at(0.60, 0.69)], fill=0, width=round(stroke * span))
    draw.rectangle(box(0.70, 0.19, 0.70 + stroke, 0.67), fill=0)  # I
    return mask.reduce(SUPERSAMPLE)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def draw_color_icon() -> bytes:
    """color.png: 192x192, the white mark on NHS blue, inside Teams' 120x120 safe area."""
    image = Image.new("RGB", (192, 192), NHS_BLUE)
    image.paste((255, 255, 255), mask=_mark_mask(192, margin=38 / 192))
    return _png(image)


def draw_outline_icon() -> bytes:
    """outline.png: 32x32, the same mark in white on transparent, as Teams requires."""
    image = Image.new("RGBA", (32, 32), (255, 255, 255, 0))
    image.putalpha(_mark_mask(32, margin=2 / 32))
    return _png(image)


def build_app_package(app_id: str, *, domain: str, version: str) -> bytes:
    """The zip Teams takes: manifest.json, color.png and outline.png, all at its root."""
    manifest = build_manifest(app_id, domain=domain, version=version)
    files = {
        "manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n",
        COLOR_ICON: draw_color_icon(),
        OUTLINE_ICON: draw_outline_icon(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        for name, content in files.items():
            # A fixed date: the same settings make the same bytes, so a rebuild is no change.
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            package.writestr(info, content)
    return out.getvalue()
