"""Settings are read once, fail fast naming the key, and never show secrets."""

from datetime import timedelta

import pytest

from bot.scheduler import TICK_SECONDS
from bot.settings import SettingsError, load_settings
from store.outbox import CLAIM_LEASE


def test_defaults_need_no_configuration():
    settings = load_settings({}, env_file=None)
    assert settings.database_url == "sqlite:///qi-nudge.db"
    assert settings.timezone.key == "Europe/London"
    assert not settings.has_slack


def test_every_bad_key_is_named_at_once():
    with pytest.raises(SettingsError) as error:
        load_settings(
            {"QI_TIMEZONE": "Mars/Olympus", "LOG_LEVEL": "chatty", "SLACK_BOT_TOKEN": "xoxb-1"},
            env_file=None,
        )
    message = str(error.value)
    assert "QI_TIMEZONE" in message
    assert "LOG_LEVEL" in message
    assert "SLACK_SIGNING_SECRET" in message


def test_repr_hides_tokens_and_database_password():
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-very-secret",
            "SLACK_SIGNING_SECRET": "signing-secret",
            "DATABASE_URL": "postgresql://qi:hunter2@db.example/qi",
        },
        env_file=None,
    )
    shown = repr(settings) + str(settings.slack_bot_token)
    assert "xoxb-very-secret" not in shown
    assert "signing-secret" not in shown
    assert "hunter2" not in shown
    assert settings.slack_bot_token.reveal() == "xoxb-very-secret"


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("QI_TIMEZONE=Europe/Dublin\nLOG_LEVEL=debug\n")
    settings = load_settings({"LOG_LEVEL": "WARNING"}, env_file=str(env_file))
    assert settings.timezone.key == "Europe/Dublin"
    assert settings.log_level == "WARNING"


def test_socket_mode_needs_no_signing_secret_but_http_mode_does():
    socket_only = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, env_file=None
    )
    assert socket_only.has_slack and socket_only.slack_signing_secret is None
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}, env_file=None)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
        load_settings({"SLACK_APP_TOKEN": "xapp-1"}, env_file=None)


def test_claim_lease_and_scheduler_tick_default_to_five_minutes_and_one_minute():
    settings = load_settings({}, env_file=None)

    assert settings.delivery_claim_lease == CLAIM_LEASE == timedelta(minutes=5)
    assert settings.scheduler_tick_seconds == TICK_SECONDS == 60
    assert "delivery_claim_lease" in repr(settings)


def test_claim_lease_and_scheduler_tick_are_read_in_seconds():
    settings = load_settings(
        {"DELIVERY_CLAIM_LEASE": "3", "SCHEDULER_TICK_SECONDS": " 2 "}, env_file=None
    )

    assert settings.delivery_claim_lease == timedelta(seconds=3)
    assert settings.scheduler_tick_seconds == 2


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", "999999"])
def test_a_bad_claim_lease_or_scheduler_tick_is_named(value):
    with pytest.raises(SettingsError) as error:
        load_settings(
            {"DELIVERY_CLAIM_LEASE": value, "SCHEDULER_TICK_SECONDS": value}, env_file=None
        )

    assert "DELIVERY_CLAIM_LEASE" in str(error.value)
    assert "SCHEDULER_TICK_SECONDS" in str(error.value)
