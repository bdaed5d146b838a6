"""Plain-English pieces shared by many answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from store.roles import Role

_ROLE_PLURALS = {
    Role.STAFF: ("member of staff", "staff"),
    Role.SERVICE_USER: ("service user", "service users"),
    Role.CARER: ("carer", "carers"),
    Role.PEER_SUPPORTER: ("peer supporter", "peer supporters"),
    Role.OTHER: ("other", "others"),
}


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 project', '2 projects'."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def as_role(role: Role) -> str:
    """How people say the part they take: "as a carer", "as staff", "in another role"."""
    if role == Role.STAFF:
        return "as staff"
    if role == Role.OTHER:
        return "in another role"
    article = "an" if role.label[0] in "aeiou" else "a"
    return f"as {article} {role.label}"


def role_count(role: Role | None, count: int) -> str:
    """'1 carer', '3 staff', '2 not said'."""
    if role is None:
        return f"{count} who didn't say"
    one, many = _ROLE_PLURALS[role]
    return f"{count} {one if count == 1 else many}"


def counts_by_role(counts: Mapping[Role | None, int]) -> str:
    """'2 service users, 1 carer, 3 staff', lived experience first."""
    order: list[Role | None] = [
        Role.SERVICE_USER,
        Role.CARER,
        Role.PEER_SUPPORTER,
        Role.STAFF,
        Role.OTHER,
        None,
    ]
    return ", ".join(role_count(r, counts[r]) for r in order if counts.get(r))


def involvement_headline_text(involved: int, total: int) -> str:
    """The headline sentence, e.g. 8 of 10 active projects have a service user or carer."""
    verb = "has" if involved == 1 or total == 1 else "have"
    return (
        f"{involved} of {plural(total, 'active project')} {verb} a service user or carer "
        "on the team."
    )


def join_names(names: Iterable[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def when(moment: datetime, zone: ZoneInfo) -> str:
    """'Thursday 3 December 2026 at 2pm' in the trust's time zone."""
    local = moment.astimezone(zone)
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    suffix = "am" if local.hour < 12 else "pm"
    return f"{on_day(local)} at {hour}{minutes}{suffix}"


def on_day(day: date) -> str:
    """'Thursday 3 December 2026' (a datetime: its own date; convert to local time first)."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def at_place(location: str | None) -> str:
    """' at Room 4', or '' when no place is known."""
    return f" at {location}" if location else ""


def did_you_mean(candidates: Iterable[str]) -> str:
    """' Did you mean: "A" or "B"?' or ''."""
    quoted = [f'"{c}"' for c in candidates]
    if not quoted:
        return ""
    if len(quoted) == 1:
        return f" Did you mean {quoted[0]}?"
    return " Did you mean " + ", ".join(quoted[:-1]) + " or " + quoted[-1] + "?"


# Words people put before their name. A greeting never uses one as if it were a first name:
# "Hello Dr." is wrong, and so is "Hello Patel" for "Dr Patel".
TITLES = frozenset(
    {
        "dr", "doctor", "mr", "mister", "mrs", "ms", "miss", "mx", "madam", "master",
        "prof", "professor", "sister", "brother", "matron", "nurse", "rev", "revd", "reverend",
        "fr", "father", "pastor", "rabbi", "imam", "sir", "dame", "lord", "lady", "cllr",
        "councillor", "capt", "captain", "col", "colonel", "lt", "sgt",
    }
)  # fmt: skip


def _is_title(word: str) -> bool:
    """Whether a word of a name is a title: "Dr", "dr.", "(Prof)"."""
    return word.strip(".,()[]").casefold() in TITLES


def first_name(display_name: str) -> str:
    """'Asha' from 'Asha Patel' or 'Dr Asha Patel'; the whole name when unsure ('Dr Patel')."""
    words = display_name.split()
    given = words
    while given and _is_title(given[0]):
        given = given[1:]
    # A title before one word ("Dr Patel", "Sister Mary") or an initial ("J. Smith") is not
    # a first name to greet anyone by: the name as they give it is always polite.
    if not given or (given is not words and len(given) < 2):
        return " ".join(words)
    first = given[0]
    if len(first.strip(".")) <= 1:
        return " ".join(words)
    return first
