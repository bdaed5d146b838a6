"""`qi-nudge serve`: the bot on Slack and/or Teams over HTTP (Slack also by Socket Mode)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from slack_bolt import App
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.outside.wiring import links_for, outside_senders
from bot.runtime.credentials import check_platforms
from bot.runtime.delivery import SAFE_CLAIM_LEASE, Deliverer, DeliveryLoop, DeliveryPolicy
from bot.runtime.forum_channels import join_slack_forum_channels
from bot.runtime.health import HealthChecks
from bot.runtime.http import build_http_app
from bot.runtime.leader import leadership_for
from bot.runtime.log_privacy import protect_logs
from bot.runtime.routing import SenderRouter
from bot.runtime.scheduler import Jobs, Scheduler
from bot.runtime.sending import Sender
from bot.runtime.settings import Settings
from bot.slack.app import SlackTransport, build_slack_app, build_web_client
from bot.slack.sender import SlackSender, build_sending_client
from bot.web.routes import web_routes
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.dispatch import Dispatcher
from handlers.forum.meetings import meeting_prefix

if TYPE_CHECKING:  # the Teams SDK takes ~2 s to import: only when Teams is configured
    from slack_bolt.adapter.socket_mode import SocketModeHandler  # only with SLACK_APP_TOKEN

    from bot.teams.app import SigningKeys
    from bot.teams.sender import TeamsSender
    from bot.teams.transport import TeamsTransport

log = logging.getLogger(__name__)


@dataclass
class Service:
    """The assembled bot: the ASGI app to host, and the platform parts behind it."""

    asgi: Starlette
    deliverer: Deliverer
    slack_app: App | None = None
    transport: SlackTransport | None = None  # Slack's
    teams: TeamsTransport | None = None
    teams_sender: TeamsSender | None = None
    teams_keys: SigningKeys | None = None
    extra_routes: tuple[BaseRoute, ...] = ()

    def close(self) -> None:
        """Finish the work queued after answers, then stop the platforms' own threads."""
        if self.transport is not None:
            self.transport.forms.close()
            self.transport.after.close()
        if self.teams is not None:
            self.teams.wait_idle()
        if self.teams_sender is not None:
            self.teams_sender.close()
        if self.teams_keys is not None:
            self.teams_keys.stop()


def build_service(settings: Settings, engine: Engine, ctx: Context) -> Service:
    """Wire the configured platforms, the handlers and the HTTP routes; serve and tests use it."""
    if not (settings.has_slack or settings.has_teams):
        raise Refusal(
            "qi-nudge serve needs Slack settings (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) or "
            "Teams settings (TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID); see "
            ".env.example. To try the bot without either, run qi-nudge console."
        )
    bot = Dispatcher(ctx)
    senders: list[Sender] = []
    teams = teams_sender = teams_keys = None
    routes: list[BaseRoute] = []
    if settings.has_teams:
        teams, teams_sender, teams_keys, teams_routes = _build_teams(settings, bot)
        senders.append(teams_sender)
        routes.extend(teams_routes)
    transport = slack_app = None
    if settings.has_slack:
        transport = SlackTransport(bot, build_web_client(settings))
        # Slack first: a person on both platforms with no sign of which they use hears on Slack.
        senders.insert(0, SlackSender(build_sending_client(transport.client)))
    # E-mail and texts last: a person on chat hears there; one outside chat is on neither.
    senders.extend(outside_senders(settings, ctx))
    policy = DeliveryPolicy(claim_lease=settings.delivery_claim_lease)
    deliverer = Deliverer(ctx, SenderRouter(senders), policy)
    if (links := links_for(settings, ctx.clock)) is not None:
        # The pages the links in e-mails and texts open; an answer there changes the counts
        # in the channel's announcement, as a button press in chat does.
        routes.extend(
            web_routes(
                ctx,
                links,
                answered=lambda meeting_id: deliverer.refresh(meeting_prefix(meeting_id)),
            )
        )
    for platform in (transport, teams):
        if platform is not None:
            platform.deliverer = deliverer
    if transport is not None:
        slack_app = build_slack_app(settings, transport)
    return Service(
        asgi=_http_app(settings, engine, slack_app, transport, routes),
        deliverer=deliverer,
        slack_app=slack_app,
        transport=transport,
        teams=teams,
        teams_sender=teams_sender,
        teams_keys=teams_keys,
        extra_routes=tuple(routes),
    )


def _http_app(
    settings: Settings,
    engine: Engine,
    slack_app: App | None,
    transport: SlackTransport | None,
    routes: list[BaseRoute],
) -> Starlette:
    """The web app: /healthz, Teams' route if any, and Slack's endpoint when it can verify."""
    secret = settings.slack_signing_secret
    if slack_app is None or transport is None or secret is None:
        # No Slack, or Socket Mode only: without a signing secret there is no Slack HTTP
        # endpoint at all, since nothing could tell Slack's requests from forged ones.
        return build_http_app(None, engine, extra_routes=routes, health=_health(settings, engine))
    postgres = engine.dialect.name != "sqlite"
    return build_http_app(
        slack_app,
        engine,
        signing_secret=secret.reveal(),
        # SQLite has one writer at a time: threads only add GIL contention there (measured in
        # bench/slack_ack.py), except for a request that must first wait for users.info.
        offload=lambda request: postgres or transport.must_look_up(request.body),
        database_wait=transport.bot.database_wait,
        extra_routes=routes,
        health=_health(settings, engine),
    )


def _health(settings: Settings, engine: Engine) -> HealthChecks:
    """The health checks, knowing how often the scheduler's leader renews its lease."""
    return HealthChecks(engine, tick_seconds=settings.scheduler_tick_seconds)


def _build_teams(
    settings: Settings, bot: Dispatcher
) -> tuple[TeamsTransport, TeamsSender, SigningKeys, list[BaseRoute]]:
    """The Teams transport, sender, signing keys and /api/messages (the SDK loads only here)."""
    from bot.teams.app import SigningKeys, build_teams_app
    from bot.teams.sender import TeamsSender
    from bot.teams.transport import TeamsTransport

    teams = TeamsTransport(bot)
    teams_app, routes = build_teams_app(settings, teams)
    sender = TeamsSender.for_settings(settings, bot.ctx.sessions, teams_app.token_provider)
    keys = SigningKeys(teams_app)
    keys.fetch()  # before the first request, which would otherwise wait for them
    return teams, sender, keys, list(routes)


def join_forum_channels_soon(service: Service, ctx: Context) -> threading.Thread | None:
    """Join the forums' public Slack channels beside start-up, which does not wait for Slack."""
    if service.transport is None:
        return None
    client = build_sending_client(service.transport.client, timeout=10)

    def join() -> None:
        try:
            join_slack_forum_channels(ctx.sessions, client)
        except Exception:
            # Never worse than not joining now: the sender joins when it next posts there.
            log.exception("could not look at the forums' Slack channels at start")

    thread = threading.Thread(target=join, name="qi-forum-channels", daemon=True)
    thread.start()
    return thread


def connect_socket_mode(service: Service, settings: Settings) -> SocketModeHandler:
    """Dial Slack over a WebSocket (Socket Mode) and answer through the same Bolt app."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    assert service.slack_app is not None and service.transport is not None
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
    # A wrong token or secret is said at once, by name, and the deploy fails (exit 2, as for a
    # setting that cannot be read), instead of a bot that listens and can send nothing.
    # A platform answering with its own error (5xx, 429) refused nothing: start, and let the
    # outbox wait for it, rather than take every platform and the scheduler down with it.
    problems = check_platforms(settings)
    for problem in problems:
        if problem.passing:
            log.warning("%s Starting anyway: messages wait until it answers.", problem.text)
    refused = [problem for problem in problems if not problem.passing]
    if refused:
        for problem in refused:
            print(problem.text, file=sys.stderr)
        return 2
    service = build_service(settings, engine, ctx)
    socket = None
    if settings.slack_app_token is not None and settings.has_slack:
        # Socket Mode needs no public URL; /healthz is still served for the platform.
        socket = connect_socket_mode(service, settings)
        service.asgi = build_http_app(
            None, engine, extra_routes=service.extra_routes, health=_health(settings, engine)
        )
    # The outbox sender and the scheduler run beside the web server, in this one process.
    # Only the replica that leads the scheduler sends (see DeliveryLoop); it is woken when it
    # takes the lead, and by each commit that planned a message (not by every request).
    # (SQLite: one process, which always leads.)
    scheduler: Scheduler
    loop = DeliveryLoop(service.deliverer, may_send=lambda: scheduler.leads())
    scheduler = Scheduler(
        Jobs(ctx, settings.nudge_policy, planned=loop.wake),
        leadership_for(engine, tick_seconds=settings.scheduler_tick_seconds),
        interval=settings.scheduler_tick_seconds,
        took_lead=loop.wake,
    )
    loop.start()
    join_forum_channels_soon(service, ctx)
    if service.teams_keys is not None:
        service.teams_keys.start()
    scheduler.start()
    lease = settings.delivery_claim_lease
    if lease < SAFE_CLAIM_LEASE:
        # Allowed (tests use seconds), but say so: in production it risks sending twice.
        log.warning(
            "DELIVERY_CLAIM_LEASE is %d seconds: a message still being sent after that may be "
            "sent again by another replica. Keep it at %d or more (default 300).",
            lease.total_seconds(),
            SAFE_CLAIM_LEASE.total_seconds(),
        )
    log.info("listening on %s:%s", settings.host, settings.port)
    # One worker: the scheduler and the SQLite default want one process (more replicas, each
    # with one worker, are fine on PostgreSQL: one of them schedules).
    config = uvicorn.Config(
        service.asgi,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    protect_logs()  # uvicorn has just set up its own log handlers: redact there too
    server = uvicorn.Server(config)
    serve_until_stopped(server)
    scheduler.shutdown()  # hands the lead to another replica at once
    loop.stop()
    if socket is not None:
        socket.close()  # stop taking events before the queued work is finished
    service.close()
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
