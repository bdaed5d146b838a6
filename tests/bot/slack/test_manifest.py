"""The Slack app manifest in deploy/ is one Slack would take: checked with Slack's own schema."""

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "deploy" / "slack-manifest.yml"
SCHEMAS = ROOT / "tests" / "data" / "schemas" / "slack"
# manifest.schema.json names its versioned schemas by these URLs; the same files are kept here.
PUBLISHED = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"
VERSIONED = ("manifest.schema.1.0.0.json", "manifest.schema.2.0.0.json")


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    """Slack's entry-point schema, its references resolved to the copies in tests/data."""
    registry = Registry().with_resources(
        (PUBLISHED + name, Resource.from_contents(load_schema(name), default_specification=DRAFT7))
        for name in VERSIONED
    )
    return Draft7Validator(load_schema("manifest.schema.json"), registry=registry)


@pytest.fixture
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def problems(validator: Draft7Validator, manifest: dict) -> list[str]:
    """Where and why Slack's schema refuses `manifest` (empty if it does not)."""
    if validator.is_valid(manifest):
        return []
    # The entry point's oneOf over versions only says "not valid under any of the given
    # schemas": ask the version a manifest without _metadata uses, for the detail.
    detail = Draft7Validator(load_schema(VERSIONED[0])).iter_errors(manifest)
    found = [f"{error.json_path}: {error.message[:200]}" for error in detail]
    return found or ["not valid under any version of the schema"]


def test_the_manifest_is_valid_against_slacks_published_schema(validator, manifest):
    assert problems(validator, manifest) == []


def test_the_schema_refuses_a_manifest_slack_would_refuse(validator, manifest):
    """The check can fail: each change below is one Slack's schema forbids."""
    misspelt = copy.deepcopy(manifest)
    misspelt["oauth_config"]["scope"] = misspelt["oauth_config"].pop("scopes")
    undescribed = copy.deepcopy(manifest)
    del undescribed["features"]["slash_commands"][0]["description"]
    nameless = copy.deepcopy(manifest)
    del nameless["display_information"]["name"]
    scope_not_a_list = copy.deepcopy(manifest)
    scope_not_a_list["oauth_config"]["scopes"]["bot"] = "chat:write"

    for broken in (misspelt, undescribed, nameless, scope_not_a_list):
        assert problems(validator, broken) != []
