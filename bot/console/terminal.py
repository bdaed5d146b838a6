"""The console transport: try the bot in a terminal, as any person, with no chat account."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import TextIO

from bot.console.forms import NotAnAnswer, check_answer, shown_answer
from bot.console.inbox import Inbox, Message
from bot.console.render_text import BUTTON_HINT, render_field, render_reply
from bot.console.sender import ConsoleSender
from bot.console.weekly_figures import record_due_figures
from bot.console.words import (
    console_help,
    describe_sweep,
    messages_for_others,
    suggest_command,
    unknown_command,
)
from bot.runtime.delivery import Deliverer, DeliveryPolicy
from bot.runtime.scheduler import Jobs
from bot.runtime.waiting_report import PLATFORM_NAMES
from handlers.core.reply import Actor, Button, Form, FormField, Image, Reply, refuse
from handlers.core.weeks import week_of
from handlers.dispatch import COMMANDS, SORRY, Dispatcher, command_name
from handlers.evidence.involvement_questions import ask_due
from handlers.nudges.weekly import NudgePolicy
from store import outbox
from store.names import clean_name, name_key

log = logging.getLogger(__name__)

PLATFORM = "console"
WORKSPACE = "local"
# The console's own commands, which also end a form when typed in the middle of one.
CONSOLE_COMMANDS = frozenset({":as", ":help", ":inbox", ":remind", ":quit", ":q", ":exit"})
# One person at a keyboard: no platform's rate limit to keep to, so nothing is spaced out.
CONSOLE_DELIVERY = DeliveryPolicy(channel_interval=0.0, workspace_interval=0.0)
# Messages for people on Slack or Teams stay queued for `qi-nudge serve`: shown here, they
# would reach nobody and yet count as sent.
ELSEWHERE = outbox.Elsewhere(platforms=tuple(PLATFORM_NAMES))


def console_actor(name: str) -> Actor:
    """The console identity of the person called `name`."""
    tidy = clean_name(name)
    return Actor(PLATFORM, WORKSPACE, name_key(tidy), tidy)


class Console:
    """A read-eval-print loop over the same handlers the chat platforms use.

    After each command, button or form, what the bot sends on its own (a reminder, a note to
    a lead that someone joined) goes out through the outbox as on Slack, into the console's
    inbox: the person acting sees theirs at once, others' wait until someone acts as them.
    """

    def __init__(
        self,
        bot: Dispatcher,
        actor: Actor,
        stdin: TextIO,
        stdout: TextIO,
        *,
        bold: bool = False,
        echo: bool = False,
        chart_folder: Path | None = None,
        nudge_policy: NudgePolicy | None = None,
        live_platforms: tuple[str, ...] = (),
    ) -> None:
        self.bot = bot
        # Slack or Teams set up for this database: `serve` would send :remind's messages for real.
        self.live_platforms = live_platforms
        self.actor = actor
        self.stdin = stdin
        self.stdout = stdout
        self._next_line: str | None = None  # a command typed in the middle of a form
        self.bold = bold
        # When input is piped (a script, a test) echo it, so the transcript reads as a dialogue.
        self.echo = echo
        # Where pictures (run charts) are saved; None is the current folder at the time.
        self.chart_folder = chart_folder
        self.buttons: list[Button] = []
        self.nudge_policy = nudge_policy or NudgePolicy()
        self.inbox = Inbox()
        self.deliverer = Deliverer(
            bot.ctx, ConsoleSender(inbox=self.inbox), CONSOLE_DELIVERY, elsewhere=ELSEWHERE
        )
        self._refresh: list[str] = []  # posted messages to bring up to date (RSVP counts)
        self._told: set[int] = set()  # messages for others already mentioned

    def write(self, text: str) -> None:
        """Print a line (or several)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def read(self, prompt: str) -> str | None:
        """Prompt and read one line; None at end of input."""
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            return None
        line = line.rstrip("\r\n")
        if self.echo:
            self.stdout.write(line + "\n")
        return line

    def run(self) -> int:
        """Loop until :quit or end of input."""
        self.write(f"qi-nudge console. You are {self.actor.display_name}. Type :help for help.")
        self.record_figures()
        self.deliver()
        while True:
            line, self._next_line = self._next_line, None
            if line is None:
                line = self.read(f"{self.actor.display_name}> ")
            if line is None:
                self.write("\nGoodbye.")
                return 0
            if not self.handle_line(line.strip()):
                self.write("Goodbye.")
                return 0
            self.deliver()

    def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means the person wants to stop."""
        if not line:
            return True
        word = line.split(" ")[0]
        if word in (":quit", ":q", ":exit"):
            return False
        if word == ":help":
            self.write(console_help(self.nudge_policy))
        elif word == ":inbox":
            self.show_inbox()
        elif word == ":remind":
            self.remind()
        elif word == ":as":
            self.switch_person(line[3:])
        elif line.isascii() and line.isdecimal():
            self.press(int(line))
        elif line.startswith("/"):
            name, _, rest = line.partition(" ")
            self.command(name, rest)
        elif word.startswith(":"):
            self.write(f"There is no console command {word}. Type :help to see them.")
        else:
            meant = suggest_command(word)
            self.write(
                f"Commands start with /{f', like {meant}' if meant else ', for example /qi-help'}."
                " Type :help for console help."
            )
        return True

    def command(self, name: str, rest: str) -> None:
        """A chat command; one we don't have is answered with the one probably meant."""
        if command_name(name) not in COMMANDS:
            self.show(refuse(unknown_command(name)))
            return
        self.show(self.bot.command(self.actor, name, rest))

    def switch_person(self, name: str) -> None:
        """Act as someone else from now on (their new messages are shown next)."""
        name = name.strip().strip('"')
        if not name_key(name):
            self.write("Who would you like to be? For example: :as Ben Okafor")
            return
        self.actor = console_actor(name)
        self.buttons = []
        self.write(f"You are now {self.actor.display_name}.")

    def press(self, number: int) -> None:
        """Press button `number` of the last reply or messages shown."""
        if not 1 <= number <= len(self.buttons):
            text = "There is no button with that number. Type a command instead."
            if self.inbox.for_person(self.actor.user_id):
                text += " :inbox shows your messages again, with their buttons."
            self.write(text)
            return
        button = self.buttons[number - 1]
        self.show(self.bot.action(self.actor, button.action_id, button.value))

    def show(self, reply: Reply) -> None:
        """Print a reply; walk through its form if it has one."""
        text, self.buttons = render_reply(reply, bold=self.bold)
        self.write(text)
        if reply.ok:
            self._refresh.extend(reply.refresh)
        if reply.image is not None:
            self.save_image(reply.image)
        if reply.form is not None:
            self.fill_in(reply.form)

    # --- what the bot does on its own -------------------------------------------------------

    def record_figures(self, *, early: bool = False) -> bool:
        """Record the week's figures as `serve` would (`early`: before their moment); whether."""
        try:
            return record_due_figures(self.bot.ctx, self.nudge_policy, early=early)
        except Exception:
            # The figures can be worked out later (qi-nudge stats --backfill): trying the bot
            # goes on. Details in the log.
            log.exception("recording the weekly figures failed in the console")
            self.write(
                "Sorry, I couldn't record this week's figures just now, so /qi-stats may not "
                "show this week yet. Everything else works as usual."
            )
            return False

    def deliver(self) -> None:
        """Send what is due (as `serve` does), then show what came for the person acting."""
        try:
            for prefix in self._refresh:
                self.deliverer.refresh(prefix)
            self.deliverer.drain()
        except Exception:
            # The outbox keeps every message: the next command tries again. Details in the log.
            log.exception("console delivery failed")
            self.write(
                "Sorry, I couldn't deliver the bot's messages just now. Nothing is lost: they "
                "go after your next command."
            )
        finally:
            self._refresh.clear()
        mine = self.inbox.unseen(self.actor.user_id)
        if mine:
            self.show_messages(mine, first=len(self.buttons) + 1)
        # Who else got something: said once, when it arrives, so a newcomer knows to look.
        new = self.inbox.waiting_for_others(self.actor.user_id, besides=self._told)
        if new:
            self._told.update(m.number for m in self.inbox.messages if m.to is not None)
            self.write(messages_for_others(new))

    def show_messages(self, messages: list[Message], *, first: int) -> None:
        """Print messages with their buttons numbered on from `first`, pressable as the rest."""
        buttons: list[Button] = []
        for message in messages:
            where = "A message for you" if message.to is not None else f"In {message.name}"
            text, pressable = render_reply(
                message.reply, bold=self.bold, first=first + len(buttons), hint=False
            )
            self.write(f"\n--- {where} from qi-nudge ---\n{text}")
            buttons.extend(pressable)
        if buttons:
            self.write(BUTTON_HINT)
        self.buttons = self.buttons[: first - 1] + buttons

    def show_inbox(self) -> None:
        """Every message for the person acting, again, with its buttons."""
        messages = self.inbox.for_person(self.actor.user_id)
        if not messages:
            self.write(
                "No messages for you yet. Messages the bot sends you on its own (a weekly "
                "reminder, a note that someone joined your project) appear here. "
                "Type :remind to send this week's reminders."
            )
            return
        for message in messages:
            message.seen = True
        self.buttons = []
        self.show_messages(messages, first=1)

    def remind(self) -> None:
        """Run this week's reminder now, as the scheduler does (never twice in a week)."""
        if self.live_platforms:
            self.write(
                f"This database is the bot's on {' and '.join(self.live_platforms)}: :remind would "
                "send this week's reminders to real people now. To see who would get one, use "
                "qi-nudge remind --dry-run; to send them early, qi-nudge remind --now."
            )
            return
        ctx = self.bot.ctx
        # As the scheduler does: the week's figures first, then the reminders.
        recorded = self.record_figures(early=True)
        try:
            plan = Jobs(ctx, self.nudge_policy).sweep(week_of(ctx.now(), ctx))
        except Exception:
            log.exception("the weekly reminder failed in the console")
            self.write(SORRY)
            return
        self.write(describe_sweep(plan, self.nudge_policy))
        if recorded:
            self.write("This week's figures are recorded too: /qi-stats shows them.")
        self.ask_involvement()

    def ask_involvement(self) -> None:
        """Ask this period's question about how involved people feel, as the scheduler does."""
        try:
            asked = ask_due(self.bot.ctx)
        except Exception:
            log.exception("asking how involved people feel failed in the console")
            self.write(SORRY)
            return
        if asked:
            questions = "1 question" if asked == 1 else f"{asked} questions"
            self.write(
                f"Also sent {questions} asking service users and carers on a team how involved "
                "they feel (each is asked once every few weeks, never twice)."
            )

    # --- pictures and forms ----------------------------------------------------------------

    def save_image(self, image: Image) -> None:
        """Save a reply's picture as a new file (never over an old one) and say what it shows."""
        folder = self.chart_folder or Path.cwd()
        try:
            path = write_new_file(folder, image.filename, image.png)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.write(
                f"The chart could not be saved in {folder} ({reason}). It shows: {image.alt_text}"
            )
            return
        shown = f"./{path.name}" if path.parent.resolve() == Path.cwd().resolve() else str(path)
        self.write(f"Chart saved to {shown} ({image.title}: {image.alt_text})")

    def fill_in(self, form: Form) -> None:
        """Ask each question in turn, each answer checked as it comes, then submit the form.

        A refused form comes back with the answers kept (as Slack and Teams keep theirs):
        Enter keeps an answer. :cancel stops; a command leaves the form and is done.
        """
        self.write(f"-- {form.title} (type :cancel to stop) --")
        answers: dict[str, str] = {}
        while True:
            for field in form.fields:
                answer = self.ask(field, kept=answers.get(field.name))
                if answer is None:
                    return
                answers[field.name] = answer
            reply = self.bot.submit(self.actor, form.form_id, answers, form.context)
            again = None if reply.ok else self.bot.form(form.form_id, form.context)
            if again is None:  # done, or the form can't be drawn again (its project is gone)
                self.show(reply)
                return
            self.write(reply.text)  # (its buttons can't be pressed while the form is open)
            self.write(
                f"-- {again.title}, again: press Enter to keep an answer, or type a new one "
                "(:cancel to stop) --"
            )
            form = again

    def ask(self, field: FormField, *, kept: str | None) -> str | None:
        """One question, asked until it gets an answer it can take; None if the form is left."""
        question = render_field(field)
        if kept:
            question += f"\n  (Enter keeps: {shown_answer(field, kept)})"
        self.write(question)
        while True:
            typed = self.read("> ")
            if typed is None or typed.strip() == ":cancel":
                self.write("Cancelled. Nothing was changed.")
                return None
            typed = typed.strip()
            if typed.startswith("/") or typed.split(" ")[0] in CONSOLE_COMMANDS:
                # A command, not an answer: the person has moved on. Leave the form, do it.
                self.write("Left the form. Nothing was changed.")
                self._next_line = typed
                return None
            try:
                return check_answer(field, typed, kept=kept)
            except NotAnAnswer as problem:
                self.write(str(problem))


def write_new_file(folder: Path, filename: str, content: bytes) -> Path:
    """Write `content` to a new file in `folder`: chart.png, or chart-2.png if that exists, ..."""
    name = Path(filename).name
    if name in ("", ".", ".."):
        name = "chart.png"
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in itertools.count(1):
        path = folder / (name if number == 1 else f"{stem}-{number}{suffix}")
        try:
            with path.open("xb") as file:  # "x": fails rather than replace a file
                file.write(content)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")
