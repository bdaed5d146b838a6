"""Socket Mode: the bot dials Slack and answers commands over the WebSocket."""

import pytest
from sqlalchemy import func, select

from bot.runtime.serve import build_service, connect_socket_mode
from bot.runtime.settings import load_settings
from handlers.core.context import Context
from store.engine import make_engine, make_sessions
from store.migrate import upgrade
from store.models import Project
from tests.fakes.slack_socket import FakeSocketMode


@pytest.fixture
def socket_endpoint(fake_slack):
    endpoint = FakeSocketMode().start()
    fake_slack.socket_url = endpoint.url
    yield endpoint
    endpoint.close()


def test_a_command_over_socket_mode_is_answered_in_its_ack(
    fake_slack, socket_endpoint, fresh_database_url, clock
):
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": fake_slack.base_url,
        },
        env_file=None,
    )
    fake_slack.add_user("ULEAD", "Asha Patel")
    service = build_service(settings, engine, Context(sessions=make_sessions(engine), clock=clock))
    handler = connect_socket_mode(service, settings)
    try:
        assert socket_endpoint.connected.wait(5)
        socket_endpoint.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "command": "/qi-project",
                    "text": 'new "Falls prevention"',
                    "user_id": "ULEAD",
                    "user_name": "asha",
                    "team_id": "T0001",
                    "channel_id": "C1",
                    "response_url": fake_slack.response_url(),
                    "trigger_id": "t",
                },
            }
        )
        ack = socket_endpoint.ack_for("env-1")
    finally:
        handler.close()
        service.transport.after.drain()

    assert ack is not None, "the app never acknowledged the envelope"
    assert 'lead of "Falls prevention"' in ack["payload"]["text"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Project)).scalar() == 1
    assert [c.method for c in fake_slack.calls_to("apps.connections.open")] == [
        "apps.connections.open"
    ]
    # With no signing secret there is no HTTP Slack endpoint to forge requests to.
    paths = {route.path for route in service.asgi.routes}
    assert "/slack/events" not in paths and "/healthz" in paths
    engine.dispose()
