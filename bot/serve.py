"""`qi-nudge serve`: the bot on Slack, over HTTP (or Socket Mode inside a trust network)."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from types import FrameType

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import Engine
from starlette.applications import Starlette

from bot.delivery import Deliverer, DeliveryLoop, DeliveryPolicy
from bot.http import build_http_app
from bot.leader import leadership_for
from bot.scheduler import Jobs, Scheduler
from bot.settings import Settings
from bot.slack.app import SlackTransport, build_slack_app, build_web_client
from bot.slack.sender import SlackSender, build_sending_client
from handlers.context import Context
from handlers.dispatch import Dispatcher
from handlers.errors import Refusal

log = logging.getLogger(__name__)


@dataclass
class Service:
    """The assembled bot: the ASGI app to host, and the Slack parts behind it."""

    asgi: Starlette
    slack_app: App
    transport: SlackTransport
    deliverer: Deliverer


def build_service(settings: Settings, engine: Engine, ctx: Context) -> Service:
    """Wire Slack, the handlers and the HTTP routes together; serve and tests both use this."""
    if not settings.has_slack:
        raise Refusal(
            "qi-nudge serve needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (see .env.example). "
            "To try the bot without Slack, run qi-nudge console."
        )
    transport = SlackTransport(Dispatcher(ctx), build_web_client(settings))
    deliverer = Deliverer(
        ctx,
        SlackSender(build_sending_client(transport.client)),
        DeliveryPolicy(claim_lease=settings.delivery_claim_lease),
    )
    transport.deliverer = deliverer
    slack_app = build_slack_app(settings, transport)
    if settings.slack_signing_secret is None:
        # Socket Mode only: without a signing secret there is no HTTP endpoint at all, since
        # nothing could tell Slack's requests from forged ones.
        return Service(
            asgi=build_http_app(None, engine),
            slack_app=slack_app,
            transport=transport,
            deliverer=deliverer,
        )
    postgres = engine.dialect.name != "sqlite"
    asgi = build_http_app(
        slack_app,
        engine,
        signing_secret=settings.slack_signing_secret.reveal(),
        # SQLite has one writer at a time: threads only add GIL contention there (measured in
        # bench/slack_ack.py), except for a request that must first wait for users.info.
        offload=lambda request: postgres or transport.must_look_up(request.body),
    )
    return Service(asgi=asgi, slack_app=slack_app, transport=transport, deliverer=deliverer)


def connect_socket_mode(service: Service, settings: Settings) -> SocketModeHandler:
    """Dial Slack over a WebSocket (Socket Mode) and answer through the same Bolt app."""
    assert settings.slack_app_token is not None
    socket = SocketModeHandler(
        service.slack_app,
        settings.slack_app_token.reveal(),
        web_client=service.transport.client,
    )
    socket.connect()
    log.info("connected to Slack in Socket Mode")
    return socket


def run_serve(settings: Settings, engine: Engine, ctx: Context) -> int:
    """Run until stopped: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT."""
    service = build_service(settings, engine, ctx)
    socket = None
    if settings.slack_app_token is not None:
        # Socket Mode needs no public URL; /healthz is still served for the platform.
        socket = connect_socket_mode(service, settings)
        service.asgi = build_http_app(None, engine)
    # The outbox sender and the scheduler run beside the web server, in this one process.
    # Only the replica that leads the scheduler sends (see DeliveryLoop); it is woken when it
    # takes the lead. (SQLite: one process, which always leads.)
    scheduler: Scheduler
    loop = DeliveryLoop(service.deliverer, may_send=lambda: scheduler.leads())
    scheduler = Scheduler(
        Jobs(ctx, settings.nudge_policy, planned=loop.wake),
        leadership_for(engine),
        interval=settings.scheduler_tick_seconds,
        took_lead=loop.wake,
    )
    loop.start()
    service.transport.planned = loop.wake
    scheduler.start()
    log.info("listening on %s:%s", settings.host, settings.port)
    # One worker: the scheduler and the SQLite default want one process (more replicas, each
    # with one worker, are fine on PostgreSQL: one of them schedules).
    server = uvicorn.Server(
        uvicorn.Config(
            service.asgi,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
    )
    serve_until_stopped(server)
    scheduler.shutdown()  # hands the lead to another replica at once
    loop.stop()
    if socket is not None:
        socket.close()  # stop taking events before the queued work is finished
    service.transport.forms.close()
    service.transport.after.close()
    return 0 if server.started else 3  # 3: could not start (the port is taken, say), as uvicorn


def serve_until_stopped(server: uvicorn.Server) -> None:
    """Run the web server until SIGTERM or Ctrl-C, then return (rather than die) to shut down.

    uvicorn (0.29 and later) raises the stop signal again once it has stopped, for the handler
    it had replaced. Python's own handlers would then end the process at once (SIGTERM) or
    raise KeyboardInterrupt (Ctrl-C), so the sender would drop its batch half sent and the
    queued work would be lost. This handler only asks uvicorn to stop: a signal that comes
    before uvicorn listens stops it as it starts, and one that comes again after it stopped
    changes nothing.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, stop)
    server.run()
