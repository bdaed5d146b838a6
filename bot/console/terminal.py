"""The console transport: try the bot in a terminal, as any person, with no chat account."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TextIO

from bot.console.render_text import render_field, render_reply
from handlers.core.reply import Actor, Button, Form, Image, Reply
from handlers.dispatch import Dispatcher
from store.names import clean_name, name_key

PLATFORM = "console"
WORKSPACE = "local"
# The console's own commands, which also end a form when typed in the middle of one.
CONSOLE_COMMANDS = frozenset({":as", ":help", ":quit", ":q", ":exit"})

CONSOLE_HELP = """\
Type commands as you would in chat, for example /qi-help or /qi-join forum.
  :as NAME   act as someone else, e.g. :as Ben Okafor
  :help      this help
  :quit      leave (Ctrl-D works too)"""


def console_actor(name: str) -> Actor:
    """The console identity of the person called `name`."""
    tidy = clean_name(name)
    return Actor(PLATFORM, WORKSPACE, name_key(tidy), tidy)


class Console:
    """A read-eval-print loop over the same handlers the chat platforms use."""

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
    ) -> None:
        self.bot = bot
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

    def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means the person wants to stop."""
        if not line:
            return True
        if line in (":quit", ":q", ":exit"):
            return False
        if line == ":help":
            self.write(CONSOLE_HELP)
        elif line.startswith(":as"):
            self.switch_person(line[3:])
        elif line.isascii() and line.isdecimal():
            self.press(int(line))
        elif line.startswith("/"):
            name, _, rest = line.partition(" ")
            self.show(self.bot.command(self.actor, name, rest))
        else:
            self.write("Commands start with /, for example /qi-help. Type :help for console help.")
        return True

    def switch_person(self, name: str) -> None:
        """Act as someone else from now on."""
        name = name.strip().strip('"')
        if not name_key(name):
            self.write("Who would you like to be? For example: :as Ben Okafor")
            return
        self.actor = console_actor(name)
        self.buttons = []
        self.write(f"You are now {self.actor.display_name}.")

    def press(self, number: int) -> None:
        """Press button `number` of the last reply."""
        if not 1 <= number <= len(self.buttons):
            self.write("There is no button with that number. Type a command instead.")
            return
        button = self.buttons[number - 1]
        self.show(self.bot.action(self.actor, button.action_id, button.value))

    def show(self, reply: Reply) -> None:
        """Print a reply; walk through its form if it has one."""
        text, self.buttons = render_reply(reply, bold=self.bold)
        self.write(text)
        if reply.image is not None:
            self.save_image(reply.image)
        if reply.form is not None:
            self.fill_in(reply.form)

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
        """Ask each question of the form in turn, then submit it (:cancel stops)."""
        self.write(f"-- {form.title} (type :cancel to stop) --")
        values: dict[str, str] = {}
        for field in form.fields:
            self.write(render_field(field))
            answer = self.read("> ")
            if answer is None or answer.strip() == ":cancel":
                self.write("Cancelled. Nothing was changed.")
                return
            answer = answer.strip()
            if answer.startswith("/") or answer.split(" ")[0] in CONSOLE_COMMANDS:
                # A command, not an answer: the person has moved on. Leave the form, do it.
                self.write("Left the form. Nothing was changed.")
                self._next_line = answer
                return
            if answer.isascii() and answer.isdecimal() and 1 <= int(answer) <= len(field.choices):
                answer = field.choices[int(answer) - 1].value
            else:
                for choice in field.choices:
                    if name_key(choice.label) == name_key(answer):
                        answer = choice.value
            values[field.name] = answer
        self.show(self.bot.submit(self.actor, form.form_id, values, form.context))


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
