"""What the console itself says: its help, typo suggestions, and what `:remind` did."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import time

from handlers.core.wording import join_names, plural
from handlers.dispatch import COMMANDS, command_name
from handlers.nudges.weekly import NudgePolicy, SweepPlan

# How alike a typed command must be to one of ours to be offered ('qi-joinn', 'join', 'stats').
SUGGEST_CUTOFF = 0.7

# In English whatever the machine's locale, as everything else the bot says.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SWEEP_ACTIONS = {"nudge": "its lead is reminded", "escalate": "passed to the forum organisers"}


def console_help(policy: NudgePolicy) -> str:
    """The console's own commands, beside the chat commands."""
    return f"""\
Type commands as you would in chat, for example /qi-help or /qi-join forum.
Type a number to press a button in the last answer or message.
  :as NAME   act as someone else, e.g. :as Ben Okafor (you then see their messages)
  :inbox     the messages the bot has sent you since the console started
  :remind    send this week's reminders now, and record the week's figures for /qi-stats
             (the bot does both by itself {schedule(policy)})
  :help      this help
  :quit      leave (Ctrl-D works too)"""


def schedule(policy: NudgePolicy) -> str:
    """'every Monday at 9:30am'."""
    return f"every {WEEKDAYS[policy.weekday]} at {clock_time(policy.at)}"


def clock_time(moment: time) -> str:
    """'9:30am', '2pm'."""
    hour = moment.hour % 12 or 12
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes}{'am' if moment.hour < 12 else 'pm'}"


def suggest_command(typed: str) -> str | None:
    """The chat command closest to what was typed ('/qi-join' for '/qi-joinn'), if one is."""
    name = command_name(typed)
    if not name:
        return None
    if name in COMMANDS:
        return f"/{name}"
    close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=SUGGEST_CUTOFF)
    return f"/{close[0]}" if close else None


def unknown_command(typed: str) -> str:
    """A typed command we don't have, with the one that was probably meant."""
    meant = suggest_command(typed)
    maybe = f" Did you mean {meant}?" if meant else ""
    return f"I don't know the command {typed}.{maybe} Type /qi-help to see what I can do."


def describe_sweep(plan: SweepPlan, policy: NudgePolicy) -> str:
    """What this week's reminder did, project by project, for someone trying the bot."""
    lines = [f"This week's reminder, as the bot sends it by itself {schedule(policy)}:"]
    if not plan.decisions:
        lines.append(
            "Every active project has a service user or carer on the team, so nobody needs a "
            "reminder this week."
        )
        return "\n".join(lines)
    lines.append(
        f"{plural(len(plan.decisions), 'active project')} "
        f"{'has' if len(plan.decisions) == 1 else 'have'} no service user or carer on the team."
    )
    for decision in plan.decisions:
        lead = decision.lead_name or "no lead"
        what = SWEEP_ACTIONS.get(decision.action) or f"no reminder: {decision.why}"
        lines.append(f'  "{decision.project_name}" (lead: {lead}): {what}')
    if plan.planned_new == 0 and any(d.action != "skip" for d in plan.decisions):
        lines.append(
            "These went out earlier this week, and nobody is reminded twice in a week: "
            "type :inbox to see yours."
        )
    return "\n".join(lines)


def messages_for_others(waiting: Mapping[str, int]) -> str:
    """'New message for Tom Hughes: type :as Tom Hughes to see it.' for who else got some."""
    names = [name if n == 1 else f"{name} ({n})" for name, n in waiting.items()]
    first = next(iter(waiting))
    if len(waiting) == 1 and waiting[first] == 1:
        return f"New message for {first}: type :as {first} to see it."
    return (
        f"New messages for {join_names(names)}: type :as and a name to see them, "
        f"for example :as {first}."
    )
