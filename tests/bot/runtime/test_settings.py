"""Settings are read once, fail fast naming the key, and never show secrets."""

from datetime import timedelta

import pytest

from bot.runtime.scheduler import TICK_SECONDS
from bot.runtime.settings import SettingsError, load_settings
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


APP_ID = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
TENANT_ID = "9e8d7c6b-5a49-4837-a261-50f4e3d2c1b0"
TEAMS = {"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "teams-secret", "TEAMS_TENANT_ID": TENANT_ID}


def test_teams_is_off_by_default_with_microsofts_public_endpoints():
    settings = load_settings({}, env_file=None)

    assert not settings.has_teams
    assert settings.teams_app_id is settings.teams_app_password is settings.teams_tenant_id is None
    assert settings.teams_login_url == "https://login.microsoftonline.com"
    assert settings.teams_openid_metadata_url == (
        "https://login.botframework.com/v1/.well-known/openidconfiguration"
    )
    assert settings.teams_service_url == "https://smba.trafficmanager.net/teams/"


def test_teams_registration_is_read_and_its_password_never_shown():
    settings = load_settings(TEAMS, env_file=None)

    assert settings.has_teams and not settings.has_slack
    assert (settings.teams_app_id, settings.teams_tenant_id) == (APP_ID, TENANT_ID)
    assert settings.teams_app_password.reveal() == "teams-secret"
    shown = repr(settings) + str(settings) + str(settings.teams_app_password)
    assert "teams-secret" not in shown
    assert APP_ID in repr(settings)  # ids are not secrets, and help whoever reads a log


@pytest.mark.parametrize("left_out", sorted(TEAMS))
def test_teams_needs_all_three_and_says_which_are_missing(left_out):
    with pytest.raises(SettingsError) as error:
        load_settings({k: v for k, v in TEAMS.items() if k != left_out}, env_file=None)

    message = str(error.value)
    assert f"{left_out}: needed too when" in message
    assert "Azure Bot's Configuration page" in message
    assert "teams-secret" not in message


def test_one_teams_setting_alone_names_both_missing_ones():
    with pytest.raises(SettingsError) as error:
        load_settings({"TEAMS_APP_PASSWORD": "teams-secret"}, env_file=None)

    message = str(error.value)
    assert (
        "TEAMS_APP_ID and TEAMS_TENANT_ID: needed too when TEAMS_APP_PASSWORD is given" in message
    )
    assert "teams-secret" not in message


@pytest.mark.parametrize("key", ["TEAMS_APP_ID", "TEAMS_TENANT_ID"])
@pytest.mark.parametrize(
    "value", ["qi-nudge", "0f1e2d3c4b5a49788a9b0c1d2e3f4a5b", "{" + APP_ID + "}"]
)
def test_teams_ids_must_be_guids(key, value):
    with pytest.raises(SettingsError) as error:
        load_settings({**TEAMS, key: value}, env_file=None)

    assert f"{key}: {value!r} is not a GUID" in str(error.value)
    assert "copy the" in str(error.value)


def test_teams_urls_can_point_at_a_test_server_and_must_be_http():
    settings = load_settings(
        {
            **TEAMS,
            "TEAMS_LOGIN_URL": "http://127.0.0.1:9000/",
            "TEAMS_OPENID_METADATA_URL": "http://127.0.0.1:9000/v1/.well-known/openidconfiguration",
            "TEAMS_SERVICE_URL": "http://127.0.0.1:9000/teams",
        },
        env_file=None,
    )
    assert settings.teams_login_url == "http://127.0.0.1:9000"  # the tenant's path follows
    assert settings.teams_openid_metadata_url.endswith("/openidconfiguration")
    assert settings.teams_service_url == "http://127.0.0.1:9000/teams/"

    with pytest.raises(SettingsError) as error:
        load_settings(
            {"TEAMS_LOGIN_URL": "login.microsoftonline.com", "TEAMS_SERVICE_URL": "smba"},
            env_file=None,
        )
    assert "TEAMS_LOGIN_URL: 'login.microsoftonline.com' is not an http(s) URL" in str(error.value)
    assert "TEAMS_SERVICE_URL" in str(error.value)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "DATABASE_URL: not a database address"),
        (
            "mysql://qi:hunter2@db/qi",
            "DATABASE_URL: qi-nudge runs on SQLite or PostgreSQL, not mysql",
        ),
        ("postgresql+asyncpg://qi:hunter2@db/qi", "the database driver 'asyncpg' is not installed"),
        ("postgresql+nosuch://qi:hunter2@db/qi", "the database driver 'nosuch' is not installed"),
    ],
)
def test_a_database_url_qi_nudge_cannot_use_is_named_without_its_password(url, said):
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL": url}, env_file=None)

    assert said in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_plain_postgresql_and_sqlite_urls_are_accepted():
    for url in ("postgresql://qi@db/qi", "postgresql+psycopg://qi@db/qi", "sqlite:///qi.db"):
        assert load_settings({"DATABASE_URL": url}, env_file=None).database_url == url


def test_the_proxies_whose_forwarded_addresses_are_believed_can_be_named():
    # Behind a reverse proxy on another host, the sign-up page's per-address limit must see
    # each person's address, not the proxy's: uvicorn believes X-Forwarded-For from these.
    assert load_settings({}, env_file=None).forwarded_allow_ips == "127.0.0.1"
    named = load_settings({"FORWARDED_ALLOW_IPS": "10.0.0.5,10.0.0.6"}, env_file=None)
    assert named.forwarded_allow_ips == "10.0.0.5,10.0.0.6"
