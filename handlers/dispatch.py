"""The table of contents: which handler answers each command, button and form."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from handlers import help, home
from handlers.core import ids
from handlers.core.args import ArgumentError
from handlers.core.context import Context
from handlers.core.errors import NotFound, Refusal
from handlers.core.lookup import project_by_id
from handlers.core.reply import Actor, Form, Reply, refuse
from handlers.core.suggestions import offer_suggestions, read_suggestion
from handlers.evidence import involvement_questions, stats
from handlers.forum import leaving, meetings, signup, slots
from handlers.forum.command import handle_forum_command
from handlers.nudges import buttons, matchmaking, weekly
from handlers.projects import join, leave, listing, manage, team
from store.deadline import (
    give_up_if_busy,
    out_of_time,
    seconds_left,
    unavailable_because,
    waiting_at_most,
)
from store.engine import NeedsWriteLock, reading_only
from store.seen_requests import (
    AlreadyActedOn,
    forgo_sighting,
    keep_sighting,
    keep_sighting_without_waiting,
)

log = logging.getLogger(__name__)

CommandHandler = Callable[[Context, Actor, str], Reply]
ActionHandler = Callable[[Context, Actor, str], Reply]
FormHandler = Callable[[Context, Actor, dict[str, str], str], Reply]

# The longest real command (a slot request: a project's name and a 300-character topic) is
# far shorter, and handlers say kindly what is too long. But platforms cap what people type
# only in their own apps, and names are matched loosely: a request of megabytes would tie up
# the server for seconds. So text beyond any reason is refused before a handler sees it.
MAX_COMMAND_TEXT = 10_000  # characters
MAX_FORM_VALUE = 10_000  # characters; the forms' own boxes allow 200
TOO_LONG = "Sorry, that is longer than I can take in. Please keep it under {most} characters."

COMMANDS: dict[str, CommandHandler] = {
    "qi-join": join.handle_join_command,
    "qi-leave": leave.handle_leave_command,
    "qi-projects": listing.handle_projects_command,
    "qi-project": manage.handle_project_command,
    "qi-forum": handle_forum_command,
    "qi-stats": stats.handle_stats_command,
    "qi-help": help.handle_help_command,
}

ACTIONS: dict[str, ActionHandler] = {
    ids.RSVP: meetings.handle_rsvp_button,
    ids.SHOW_FORUM: meetings.handle_show_forum_button,
    ids.MORE_PROJECTS: listing.handle_more_projects_button,
    ids.FORUM_MATCH: signup.handle_forum_match_button,
    ids.FORUM_ROLE: signup.handle_forum_role_button,
    ids.JOIN_FORUM: signup.handle_join_forum_button,
    ids.JOIN_AS: join.handle_join_as_button,
    ids.LEAVE: leave.handle_leave_button,
    ids.OPEN_ADD_MEMBER: manage.handle_open_add_member,
    ids.ASK_FORUM: buttons.handle_ask_forum_button,
    ids.OPEN_SNOOZE: buttons.handle_open_snooze,
    ids.MUTE_NUDGES: buttons.handle_mute_button,
    ids.MORE_WAITING: weekly.handle_more_waiting_button,
    ids.MORE_ESCALATED: weekly.handle_more_escalated_button,
    ids.SLOT_DECIDE: slots.handle_slot_decision_button,
    ids.MATCH_OFFER: matchmaking.handle_match_offer_button,
    ids.MATCH_ANSWER: matchmaking.handle_match_answer_button,
    ids.OPEN_CHANGE_MEMBER: team.handle_open_change_member,
    ids.REMOVE_MEMBER: team.handle_remove_member_button,
    ids.KEEP_MEMBER: team.handle_keep_member_button,
    ids.LEFT_FORUM_GOING: leaving.handle_still_coming_button,
    ids.INVOLVEMENT_ANSWER: involvement_questions.handle_answer_button,
    ids.OPEN_INVOLVEMENT_COMMENT: involvement_questions.handle_open_comment,
    ids.INVOLVEMENT_QUESTIONS: involvement_questions.handle_questions_button,
}

FORMS: dict[str, FormHandler] = {
    ids.JOIN_FORM: join.handle_join_form,
    ids.ADD_MEMBER_FORM: manage.handle_add_member_form,
    ids.SNOOZE_FORM: buttons.handle_snooze_form,
    ids.CHANGE_MEMBER_FORM: team.handle_change_member_form,
    ids.INVOLVEMENT_COMMENT_FORM: involvement_questions.handle_comment_form,
}

# What only reads: on SQLite these never take the write lock, so they answer at once while the
# weekly run (or an import) writes. One that writes after all (a first contact, `/qi-stats note`)
# is stopped before its first write and run again as a writer: correct, just slower that once.
READ_ONLY = frozenset(
    {
        "qi-projects",
        "qi-stats",
        "qi-help",
        ids.SHOW_FORUM,
        ids.MORE_PROJECTS,
        ids.MORE_WAITING,
        ids.MORE_ESCALATED,
        ids.OPEN_ADD_MEMBER,
        ids.OPEN_SNOOZE,
        "home",
        ids.OPEN_CHANGE_MEMBER,
        ids.KEEP_MEMBER,
    }
)

# How to draw each form again from its id and context: a platform whose forms live in the
# message (Teams) shows a refused form again, with the answers given, from any replica.
FORM_BUILDERS: dict[str, Callable[[Session, str], Form]] = {
    ids.JOIN_FORM: lambda session, context: join.build_join_form(session),
    ids.ADD_MEMBER_FORM: lambda session, context: manage.build_add_member_form(
        project_by_id(session, context)
    ),
    ids.SNOOZE_FORM: lambda session, context: buttons.build_snooze_form(
        project_by_id(session, context)
    ),
    ids.CHANGE_MEMBER_FORM: lambda session, context: team.build_change_member_form(
        session, project_by_id(session, context)
    ),
    ids.INVOLVEMENT_COMMENT_FORM: involvement_questions.comment_form_again,
}

# A person in chat waits for the database this long at most (Slack gives up at 3 s), then is
# told to try again. Jobs and the command line are not in a hurry: they keep the engine's waits.
REQUEST_DATABASE_WAIT = 2.0  # seconds
UNREACHABLE = "Sorry, I can't reach my records just now. Please try again in a minute."
# The deadline runs from when the request arrived (transports set it): a request that waited
# this long for a worker thread, or for the platform's user lookup, is answered at once.
TOO_LITTLE_LEFT = 0.2  # seconds

SORRY = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a "
    "minute; if it keeps happening, tell a QI forum organiser."
)


def command_name(text: str) -> str:
    """'/QI-Join' and 'qi-join' are the same command."""
    return text.strip().lstrip("/").casefold()


class Dispatcher:
    """Runs the handler for each command, button or form, and never lets an error escape."""

    def __init__(self, ctx: Context, *, database_wait: float = REQUEST_DATABASE_WAIT) -> None:
        self.ctx = ctx
        self.database_wait = database_wait

    def command(self, actor: Actor, name: str, text: str) -> Reply:
        """Answer a slash command such as ('/qi-join', 'Falls prevention as carer')."""
        handler = COMMANDS.get(command_name(name))
        if handler is None:
            return refuse(f"I don't know the command {name}. Type /qi-help to see what I can do.")
        if len(text) > MAX_COMMAND_TEXT:
            return refuse(TOO_LONG.format(most=f"{MAX_COMMAND_TEXT:,}"))
        command = command_name(name)
        return self._run(lambda: run_command(self.ctx, actor, command, text), what=command)

    def action(self, actor: Actor, action_id: str, value: str) -> Reply:
        """Answer a button press."""
        handler = ACTIONS.get(action_id)
        if handler is None:
            return refuse("Sorry, that button no longer works. Type /qi-help to see what I can do.")
        return self._run(lambda: handler(self.ctx, actor, value), what=action_id)

    def submit(self, actor: Actor, form_id: str, values: dict[str, str], context: str) -> Reply:
        """Answer a submitted form."""
        handler = FORMS.get(form_id)
        if handler is None:
            return refuse("Sorry, that form no longer works. Type /qi-help to see what I can do.")
        if any(len(value) > MAX_FORM_VALUE for value in values.values()):
            return refuse(TOO_LONG.format(most=f"{MAX_FORM_VALUE:,}"))
        return self._run(lambda: handler(self.ctx, actor, values, context), what=form_id)

    def form(self, form_id: str, context: str) -> Form | None:
        """The form with this id and context, drawn again; None if it can't be (gone, unknown)."""
        build = FORM_BUILDERS.get(form_id)
        if build is None:
            return None
        try:
            with waiting_at_most(self.database_wait), self.ctx.sessions() as session:
                return build(session, context)
        except Refusal:
            return None  # its project is gone: the refusal itself says what to do
        except Exception as error:
            why = unavailable_because(error)
            if why is None:
                raise
            log.warning("database unavailable (%s) while drawing a form again", why)
            return None

    def home(self, actor: Actor) -> Reply:
        """The person's own page (App Home)."""
        return self._run(lambda: home.handle_home(self.ctx, actor), what="home")

    def run(self, call: Callable[[], Reply], *, what: str) -> Reply:
        """Run a request's work within its database wait; any failure becomes a kind reply.

        For transports that store something of their own before the handler runs (Teams keeps
        how to reach the person): one deadline and one answer for the whole request.
        """
        return self._run(call, what=what)

    def _run(self, call: Callable[[], Reply], *, what: str) -> Reply:
        read_only = what in READ_ONLY
        with waiting_at_most(self.database_wait):
            left = seconds_left()
            if left is not None and left < TOO_LITTLE_LEFT:
                # Queued for a worker thread, or a platform look-up, took the request's time.
                log.warning(
                    "database unavailable (%s) during %s; asked to try again",
                    "no time left to wait",
                    what,
                )
                forgo_sighting()
                return refuse(UNREACHABLE)
            try:
                reply = self._as_reader_or_writer(call, what=what, read_only=read_only)
            except AlreadyActedOn:
                raise  # a replayed request: the transport acknowledges it and does nothing
            except Refusal as refusal:
                reply = refusal.reply
            except ArgumentError as error:
                reply = refuse(str(error))
            except Exception as error:
                give_up_if_busy(error)  # on the event loop: tried again where it may wait
                why = unavailable_because(error)
                if why is not None:
                    # Not a bug: the database is down, unreachable or busy. One line for IT.
                    log.warning(
                        "database unavailable (%s) during %s; asked to try again", why, what
                    )
                    forgo_sighting()
                    return refuse(UNREACHABLE)
                # Logged with the traceback for IT; the person sees a kind sentence, never it.
                log.exception("handler failed: %s", what)
                reply = refuse(SORRY)
            # The request's key, when its work did not keep it (it only read, opened no
            # transaction, or was refused or failed and rolled back): a copy sent again is
            # acknowledged, not answered. (Not when the database is unavailable: it was not
            # reached, and trying again would only make the person wait.)
            if read_only:
                keep_sighting_without_waiting(self.ctx.sessions)
            else:
                keep_sighting(self.ctx.sessions)
            return reply

    def _as_reader_or_writer(
        self, call: Callable[[], Reply], *, what: str, read_only: bool
    ) -> Reply:
        if not read_only:
            return self._once_more_if_disconnected(call, what=what)
        try:
            with reading_only():
                return self._once_more_if_disconnected(call, what=what)
        except NeedsWriteLock:
            # It writes after all; nothing was written (stopped at the first write): again,
            # as a writer.
            return self._once_more_if_disconnected(call, what=what)

    @staticmethod
    def _once_more_if_disconnected(call: Callable[[], Reply], *, what: str) -> Reply:
        try:
            return call()
        except DBAPIError as error:
            if not error.connection_invalidated or out_of_time():
                # Cut at the deadline (the database stopped answering): another try would
                # only keep the person waiting longer.
                raise
            # The database dropped the connection (restart, failover); the unit of work rolled
            # back with it, so running it again on a fresh connection is safe.
            log.warning("database connection lost during %s; trying once more", what)
            return call()


# --- Names that fit no one project: the closest offered as buttons that finish the command ---


def run_command(ctx: Context, actor: Actor, command: str, text: str) -> Reply:
    """Run a command; a name that fits nothing comes back with buttons for the names offered."""
    try:
        return COMMANDS[command](ctx, actor, text)
    except NotFound as missing:
        return offer_suggestions(command, text, missing)


def handle_suggestion_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """A suggested name pressed: the same command as typed, with that name in it."""
    suggested = read_suggestion(value)
    if suggested is None or suggested[0] not in COMMANDS or len(suggested[1]) > MAX_COMMAND_TEXT:
        raise Refusal("Sorry, that button didn't work. Please type the command again.")
    command, text = suggested
    return run_command(ctx, actor, command, text)


ACTIONS[ids.RUN_SUGGESTED] = handle_suggestion_button

# The run chart's "What does this mean?" (issue 19): words only, so it never waits to write.
ACTIONS[ids.EXPLAIN_CHART] = stats.handle_explain_chart_button
READ_ONLY = READ_ONLY | {ids.EXPLAIN_CHART}
