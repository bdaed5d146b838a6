"""Loading a project register (for example a Life QI export) from a CSV file.

The admin's command line calls `open_register` and `import_projects`. Good rows are loaded and
bad ones reported with their line numbers; with `strict=True` nothing is written unless every
row is good (every row is checked before the first is written). Reads the whole register
first, then writes it in batches of WRITE_BATCH rows, each its own short transaction, so chat
requests are answered while a large register loads; importing the same file again is harmless
(it only changes what differs), which is how an import stopped half way is finished.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.dates import long_date, parse_date
from handlers.core.errors import Refusal
from store import audit, erasure
from store.engine import let_others_write
from store.models import NAME_MAX, ChatIdentity, Person, Project
from store.names import clean_name, name_key, site_key
from store.people import email_digest
from store.planner_statistics import refresh_planner_statistics
from store.roles import ProjectStatus, parse_status
from store.sites import spellings

PROGRESS_EVERY = 500
# What an import adds rows to, analysed after it on PostgreSQL (a known list: no query for it).
IMPORTED_TABLES = ("projects", "project_words", "people", "audit_events")
# Rows written per transaction: each holds SQLite's write lock for a fraction of a second.
WRITE_BATCH = 1000
# Bigger than any real register; a guard against a wrong file filling memory.
MAX_FILE_BYTES = 50 * 1024 * 1024
EMAIL_MAX = 320
# Values per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits.
LOOKUP_CHUNK = 500
# How much of a cell to repeat back in a message.
QUOTE_MAX = 60
# How many of a column's accepted headings to suggest when it is missing.
ALIASES_SHOWN = 5

STATUS_CHOICES = "active, on hold, completed or stopped"
START_DATE_FORMS = "12/01/2026 (day first), 12/01/26, 12 January 2026, 12 Jan 2026 or 2026-01-12"
# A start date before this is a typo ("1926", "0026"), not a QI project: the run chart's
# back-fill would otherwise count weeks from it.
EARLIEST_START = date(2000, 1, 1)


# A register row whose lead asked to be erased: skipped, and the admin told what to do.
ERASED_LEAD = (
    "skipped: the lead asked for their details to be erased from qi-nudge, so I did not add "
    "them back; remove them from the register."
)


class RegisterFileError(ValueError):
    """The file cannot be imported at all; str() is a kind message for the admin."""


@dataclass(frozen=True)
class RowProblem:
    """A row that was not imported, and why, in plain English."""

    line: int  # physical line in the file; the header is line 1
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did; when `applied` is False nothing was written and the counts are 0."""

    created: int
    updated: int
    unchanged: int
    problems: list[RowProblem]
    applied: bool
    # Columns the import did not use: unrecognised, or a second column for the same thing.
    unknown_columns: list[str]


@dataclass(frozen=True)
class _Field:
    label: str  # for messages: "no column for the {label}"
    aliases: tuple[str, ...]  # as a person would type them; best first


_NAME = _Field(
    "project name",
    (
        "Project name",
        "Project title",
        "Name",
        "Title",
        "Project",
        "Project name/title",
        "QI project",
        "QI project name",
        "QI project title",
    ),
)
_LEAD = _Field(
    "project lead",
    (
        "Project lead",
        "Lead",
        "Owner",
        "Project owner",
        "Lead name",
        "Project lead name",
        "Owner name",
        "Project owner name",
        "Project leader",
        "Led by",
    ),
)
# A separate e-mail column may sit beside the lead's name, or stand in for it.
_LEAD_EMAIL = _Field(
    "project lead",
    (
        "Lead email",
        "Project lead email",
        "Owner email",
        "Project owner email",
        "Lead email address",
        "Project lead email address",
    ),
)
_SITE = _Field(
    "site or team",
    (
        "Site",
        "Team",
        "Site or team",
        "Site/team",
        "Location",
        "Department",
        "Directorate",
        "Service",
        "Project site",
        "Project team",
        "Team name",
        "Service area",
        "Ward",
        "Division",
        "Care group",
    ),
)
_STATUS = _Field("status", ("Status", "Project status", "Stage", "Project stage"))
# Optional: when the work began, if a register says (Life QI's "Start Date").
_STARTED = _Field(
    "start date",
    ("Start date", "Project start date", "Started", "Date started", "Started on", "Start"),
)


_WHITESPACE_CONTROLS = str.maketrans("\r\n\t\v\f", "     ")


def _cell(text: str) -> str:
    """A cell tidied for storing; a line break or tab inside a cell is a space, not nothing."""
    return clean_name(text.translate(_WHITESPACE_CONTROLS))


def _fold_header(text: str) -> str:
    # "Project Lead (e-mail)" -> "projectleademail": case, spaces and punctuation don't count.
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class _Columns:
    name: int
    lead: int | None
    lead_email: int | None
    site: int
    status: int
    started: int | None
    width: int
    unused: list[str]

    @property
    def needed(self) -> int:
        """How many cells a row must have to reach every column we use.

        Not the start date: a row that stops short of it (a spreadsheet leaving out trailing
        empty cells) simply has none.
        """
        used = [self.name, self.lead, self.lead_email, self.site, self.status]
        return max(i for i in used if i is not None) + 1


def _find_column(folded: Sequence[str], wanted: _Field) -> int | None:
    ranks = {_fold_header(alias): rank for rank, alias in enumerate(wanted.aliases)}
    found = [(ranks[h], i) for i, h in enumerate(folded) if h in ranks]
    return min(found)[1] if found else None


def _map_columns(header: list[str]) -> _Columns:
    """Which column holds what; refuses a header without the columns we need."""
    folded = [_fold_header(cell) for cell in header]
    name, lead, lead_email, site, status, started = (
        _find_column(folded, wanted)
        for wanted in (_NAME, _LEAD, _LEAD_EMAIL, _SITE, _STATUS, _STARTED)
    )
    found = {
        _NAME: name,
        _LEAD: lead if lead is not None else lead_email,
        _SITE: site,
        _STATUS: status,
    }
    missing = [wanted for wanted, index in found.items() if index is None]
    if missing:
        raise RegisterFileError(_missing_columns_message(missing, header))
    assert name is not None and site is not None and status is not None
    used = {name, lead, lead_email, site, status, started}
    unused = [_cell(cell) for i, cell in enumerate(header) if i not in used and _cell(cell)]
    return _Columns(name, lead, lead_email, site, status, started, len(header), unused)


def _missing_columns_message(missing: list[_Field], header: list[str]) -> str:
    what = ", ".join(wanted.label for wanted in missing)
    found = [_quote(cell) for cell in header if _cell(cell)]
    shown = ", ".join(found[:20]) + (f" and {len(found) - 20} more" if len(found) > 20 else "")
    lines = [
        f"I can't import this file: it has no column for the {what}."
        if len(missing) == 1
        else f"I can't import this file: it has no columns for these: {what}.",
        f"The columns I found are: {shown}." if found else "The first line has no column names.",
        f"Please add {'a column' if len(missing) == 1 else 'these columns'}, headed like this "
        "(capitals, spaces and punctuation don't matter):",
    ]
    for wanted in missing:
        aliases = list(wanted.aliases[:ALIASES_SHOWN])
        if wanted is _LEAD:
            aliases[-1] = _LEAD_EMAIL.aliases[0]
        lines.append(f"• {wanted.label}: " + " or ".join(f'"{alias}"' for alias in aliases))
    return "\n".join(lines)


def _quote(text: str) -> str:
    """A cell repeated back safely: no control characters (terminal escapes), not too long."""
    tidy = _cell(text)
    return f'"{tidy[:QUOTE_MAX]}…"' if len(tidy) > QUOTE_MAX else f'"{tidy}"'


# --- Reading the file ---------------------------------------------------------------------


def decode_register(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" is UTF-16; anything undecodable becomes U+FFFD, not a crash.
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV" on Windows; the five bytes cp1252 leaves undefined become U+FFFD.
        return raw.decode("cp1252", errors="replace")


def open_register(path: Path) -> TextIO:
    """Open a register file as text, whatever encoding Excel or Life QI saved it in."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RegisterFileError(
                f"{path.name} is {size / 1_000_000:.0f} MB, which is far bigger than a project "
                f"register. Is it the right file? I can read up to "
                f"{MAX_FILE_BYTES // 1_000_000} MB."
            )
        raw = path.read_bytes()
    except OSError as error:
        raise RegisterFileError(f"I couldn't open {path}: {error.strerror or error}.") from None
    # newline="" so the csv module sees line endings inside quoted cells as they are.
    return io.StringIO(decode_register(raw), newline="")


class _Lines:
    """The source's lines with NUL bytes removed, counting physical lines as they go by."""

    def __init__(self, source: Iterable[str]) -> None:
        self._source = iter(source)
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._source)
        except UnicodeDecodeError:
            raise RegisterFileError(
                "I couldn't read the file as text. Save it from Excel as "
                '"CSV UTF-8 (Comma delimited)" and try again.'
            ) from None
        self.count += 1
        if self.count == 1:
            line = line.removeprefix("\ufeff")
        # NULs come from binary or UTF-16 files read the wrong way; they are never meant.
        return line.replace("\0", "")


_SEPARATOR_HINT = re.compile(r"sep=([,;\t|])[\r\n]*", re.IGNORECASE)


def _delimiter(header_line: str) -> str:
    # Excel writes ";" in some locales and tabs as "Unicode text"; commas otherwise.
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass(frozen=True)
class _Record:
    line: int
    end_line: int
    cells: list[str] | None  # None when the csv module could not read the record
    error: str | None = None


def _records(source: Iterable[str]) -> tuple[list[str], Iterator[_Record]]:
    """The header's cells, then every non-blank record with the line it starts on."""
    lines = _Lines(source)
    header_line = next((line for line in lines if line.strip()), None)
    # Excel may put "sep=;" before the header to say which separator it used.
    hint = _SEPARATOR_HINT.fullmatch(header_line or "")
    if hint is not None:
        header_line = next((line for line in lines if line.strip()), None)
    if header_line is None:
        raise RegisterFileError(
            "The file is empty. I need a header row (Project name, Lead, Site, Status) and "
            "then one row per project."
        )
    header_number = lines.count
    delimiter = hint.group(1) if hint is not None else _delimiter(header_line)
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as error:
        raise RegisterFileError(
            f"I couldn't read the header row on line {header_number}: {error}."
        ) from None

    def rows() -> Iterator[_Record]:
        while True:
            start = lines.count + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield _Record(start, lines.count, None, str(error))
                if lines.count < start:  # nothing was consumed: stop rather than spin
                    return
                continue
            if any(cell.strip() for cell in cells):
                yield _Record(start, lines.count, cells)

    return header, rows()


# --- Reading one row ----------------------------------------------------------------------


_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"']+@[^@\s<>()\[\],;:\"']+\.[^@\s<>()\[\],;:\"'.]+")
_EMPTY_BRACKETS = re.compile(r"<\s*>|\(\s*\)|\[\s*\]|mailto:", re.IGNORECASE)


@dataclass(frozen=True)
class _Lead:
    name: str  # as typed, or made from the e-mail address
    email: str | None  # lower case


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    key: str
    lead: _Lead | None  # None: the register names no lead, so keep what we have
    site: str | None  # None: the register names no site, so keep what we have
    status: ProjectStatus
    started_on: date | None  # None: the register gives no start date, so keep what we have


class _Skip(Exception):
    """A row that cannot be imported; the message says why."""


def _name_from_email(email: str) -> str:
    """'asha.patel@nhs.net' -> 'Asha Patel', so a new lead has a readable name."""
    local = email.partition("@")[0].partition("+")[0]
    words = [w.rstrip("0123456789") for w in re.split(r"[._\-]+", local)]
    name = " ".join(w.capitalize() for w in words if w)
    return clean_name(name or local)[:NAME_MAX]


def _parse_lead(name_cell: str, email_cell: str) -> _Lead | None:
    name_cell, email_cell = _cell(name_cell), _cell(email_cell)
    emails = list(dict.fromkeys(e.lower() for e in _EMAIL.findall(f"{name_cell} {email_cell}")))
    if len(emails) > 1:
        raise _Skip(
            "the lead has more than one e-mail address. A project has one lead here: please "
            "keep only the main lead's address."
        )
    email = emails[0] if emails else None
    if email is not None and len(email) > EMAIL_MAX:
        raise _Skip(f"the lead's e-mail address is too long (over {EMAIL_MAX} characters).")
    # "Patel, Asha (NHS TRUST) <asha.patel@nhs.net>": keep the words, drop the address.
    texts = (_EMPTY_BRACKETS.sub("", _EMAIL.sub("", cell)) for cell in (name_cell, email_cell))
    name = next((n for n in (clean_name(t).strip(" ,;\"'") for t in texts) if n), "")
    if len(name) > NAME_MAX:
        raise _Skip(f"the lead's name is too long. Please keep it to {NAME_MAX} characters.")
    if email is None:
        return _Lead(name, None) if name else None
    return _Lead(name or _name_from_email(email), email)


def _parse_start_date(cell: str, today: date) -> date | None:
    """The start date in a cell, None if it is empty; a date we can't use skips the row."""
    text = _cell(cell)
    if not text:
        return None
    try:
        # The one date reader every command uses; a register's dates must carry their year.
        started = parse_date(text, today=today, no_year=None)
    except Refusal as wrong_weekday:  # "Friday 12 January 2026", a Monday: skip just this row
        raise _Skip(f"the start date {_quote(text)}: {wrong_weekday.reply.text}") from None
    if started is None:
        raise _Skip(
            f"I can't read the start date {_quote(text)}. Please write it like "
            f"{START_DATE_FORMS}, or leave the cell empty."
        )
    if started > today:
        raise _Skip(
            f"the start date {_quote(text)} is {long_date(started)}, which is after today. "
            "Please give the day the work began (dates are day first, like 12/01/2026 for "
            "12 January 2026), or leave the cell empty if it hasn't begun yet."
        )
    if started < EARLIEST_START:
        raise _Skip(
            f"the start date {_quote(text)} is {long_date(started)}, before "
            f"{EARLIEST_START.year}: is it a typo? Please write it like {START_DATE_FORMS}, or "
            "leave the cell empty."
        )
    return started


def _parse_row(record: _Record, columns: _Columns, today: date) -> _Row:
    cells = record.cells
    if cells is None:
        raise _Skip(_unreadable(record.error or ""))
    spans = (
        f" It runs on to line {record.end_line}: is there a stray quote mark?"
        if record.end_line > record.line
        else ""
    )
    if len(cells) < columns.needed:
        raise _Skip(
            f"this row has {len(cells)} cells but the header has {columns.width}, so I can't "
            f"tell which cell is which.{spans}"
        )
    if any(cell.strip() for cell in cells[columns.width :]):
        raise _Skip(
            f"this row has {len(cells)} cells but the header has {columns.width}. Is there a "
            "comma in a name that needs quote marks around it?"
        )

    name = _cell(cells[columns.name])
    key = name_key(name)
    if not name:
        raise _Skip("the project name is empty.")
    if len(name) > NAME_MAX or len(key) > NAME_MAX:
        raise _Skip(
            f"the project name is {len(name):,} characters long; please keep it to "
            f"{NAME_MAX}.{spans}"
        )
    if not key:
        raise _Skip(f"the project name {_quote(name)} has no letters or numbers in it.")

    status_text = cells[columns.status]
    status = parse_status(status_text)
    if status is None:
        if not _cell(status_text):
            raise _Skip(f"the status is empty. Use {STATUS_CHOICES}.")
        raise _Skip(f"I don't know the status {_quote(status_text)}. Use {STATUS_CHOICES}.")

    site = _cell(cells[columns.site]) or None
    if site is not None and len(site) > NAME_MAX:
        raise _Skip(f"the site or team is too long. Please keep it to {NAME_MAX} characters.")

    started_text = (
        cells[columns.started]
        if columns.started is not None and columns.started < len(cells)
        else ""
    )
    started_on = _parse_start_date(started_text, today)

    lead_name = cells[columns.lead] if columns.lead is not None else ""
    lead_email = cells[columns.lead_email] if columns.lead_email is not None else ""
    lead = _parse_lead(lead_name, lead_email)
    return _Row(record.line, name, key, lead, site, status, started_on)


class _Progress:
    """Tells the caller how many rows are done, every PROGRESS_EVERY rows and at the end."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self.done = 0
        self._told = -1

    def step(self) -> None:
        self.done += 1
        if self.done % PROGRESS_EVERY == 0:
            self.finish()

    def finish(self) -> None:
        if self._callback is not None and self._told != self.done:
            self._told = self.done
            self._callback(self.done)


def _read_rows(
    records: Iterator[_Record],
    columns: _Columns,
    today: date,
    problems: list[RowProblem],
    progress: _Progress,
) -> list[_Row]:
    """The good rows, keeping the first of each project name; problems go to `problems`."""
    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    for record in records:
        try:
            row = _parse_row(record, columns, today)
            if row.key in first_line:
                raise _Skip(
                    f"{_quote(row.name)} is the same project as line {first_line[row.key]}, "
                    "so I used that line and skipped this one."
                )
            first_line[row.key] = row.line
            rows.append(row)
        except _Skip as skip:
            problems.append(RowProblem(record.line, str(skip)))
        progress.step()
    return rows


def _unreadable(error: str) -> str:
    if "field larger than field limit" in error:
        return (
            f"a cell is too long to read (over {csv.field_size_limit():,} characters), so I "
            "skipped this row. Is there a stray quote mark?"
        )
    return f"I couldn't read this row ({error}), so I skipped it."


# --- Writing ------------------------------------------------------------------------------


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


@dataclass
class _People:
    """The leads named in the file that we already know, and the ones this import adds."""

    by_email: dict[str, Person] = field(default_factory=dict)
    by_name: dict[str, list[Person]] = field(default_factory=lambda: defaultdict(list))
    new: list[Person] = field(default_factory=list)
    # Leads who asked to be erased (by address digest, or by name if named only): the register
    # must not quietly bring them back.
    erased_emails: set[str] = field(default_factory=set)
    erased_names: set[str] = field(default_factory=set)

    @classmethod
    def load(
        cls, session: Session, leads: Iterable[_Lead], earlier_new: Sequence[Person] = ()
    ) -> _People:
        """Everyone the leads could be, in one query per 500 addresses or names.

        `earlier_new`: the people earlier batches of this import added (or, checking only,
        would have added), so that checking sees what writing will find in the database.
        """
        leads = list(leads)
        emails = sorted({lead.email for lead in leads if lead.email})
        names = sorted({lead.name.lower() for lead in leads if not lead.email})
        known = cls()
        for chunk in _chunks(emails):
            query = select(Person).where(func.lower(Person.email).in_(chunk)).order_by(Person.id)
            for person in session.scalars(query):
                assert person.email is not None
                known.by_email.setdefault(person.email.lower(), person)
        # A lead who already uses chat has no address on their record, only a digest of the one
        # Slack or Teams vouched for: found by that, they stay the lead (never a second record).
        digests = {email_digest(email): email for email in emails if email not in known.by_email}
        for chunk in _chunks(sorted(d for d in digests if d)):
            holders: dict[str, set[int]] = defaultdict(set)
            rows = session.execute(
                select(ChatIdentity.email_sha256, ChatIdentity.person_id).where(
                    ChatIdentity.email_sha256.in_(chunk)
                )
            )
            for digest, person_id in rows:
                holders[digest].add(person_id)
            # Two people with one address: never guess between them.
            owner = {next(iter(ids)): d for d, ids in holders.items() if len(ids) == 1}
            if owner:
                for person in session.scalars(select(Person).where(Person.id.in_(list(owner)))):
                    known.by_email[digests[owner[person.id]]] = person
        for chunk in _chunks(names):
            query = (
                select(Person).where(func.lower(Person.display_name).in_(chunk)).order_by(Person.id)
            )
            for person in session.scalars(query):
                known.by_name[person.display_name.lower()].append(person)
        erased_emails, erased_names = erasure.erased_among(
            session,
            email_sha256s=(d for d in (email_digest(e) for e in emails) if d),
            names=names,
        )
        known.erased_emails, known.erased_names = erased_emails, {n.lower() for n in erased_names}
        known._add_earlier(earlier_new, set(names))
        return known

    def _add_earlier(self, earlier_new: Sequence[Person], names: set[str]) -> None:
        # Written ones were just loaded from the database (they have ids): not twice.
        loaded = {p.id for p in self.by_email.values()} | {
            p.id for named in self.by_name.values() for p in named
        }
        for person in earlier_new:
            if person.id is not None and person.id in loaded:
                continue
            if person.email is not None:
                self.by_email.setdefault(person.email.lower(), person)
            key = person.display_name.lower()
            if key in names:  # a lead in this batch is given by this name alone
                self.by_name[key].append(person)

    def resolve(self, lead: _Lead, now: datetime) -> Person:
        """The person who leads: by e-mail, else by a unique name, else someone new."""
        if lead.email is not None:
            # An address is matched by address only: two Asha Patels are common in a trust.
            found = self.by_email.get(lead.email)
            if found is not None:
                return found
            if email_digest(lead.email) in self.erased_emails:
                raise _Skip(ERASED_LEAD)
        else:
            named = self.by_name.get(lead.name.lower(), [])
            if len(named) > 1:
                raise _Skip(
                    f"there are {len(named)} people called {_quote(lead.name)}, so I can't tell "
                    "which one leads this project. Please give the lead's e-mail address instead."
                )
            if named:
                return named[0]
            if lead.name.lower() in self.erased_names:
                raise _Skip(
                    f"{ERASED_LEAD} (If {_quote(lead.name)} is someone else with the same name, "
                    "give their e-mail address.)"
                )
        person = Person(display_name=lead.name, email=lead.email, created_at=now)
        self.new.append(person)
        self.by_name[person.display_name.lower()].append(person)
        if lead.email is not None:
            self.by_email[lead.email] = person
        return person


def _existing_projects(session: Session, keys: Sequence[str]) -> dict[str, Project]:
    found: dict[str, Project] = {}
    for chunk in _chunks(keys):
        found.update(
            (p.name_key, p)
            for p in session.scalars(select(Project).where(Project.name_key.in_(chunk)))
        )
    return found


def import_projects(
    ctx: Context,
    source: TextIO,
    *,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create and update projects from a register CSV; raises RegisterFileError for a bad file.

    Projects are matched by folded name. An empty lead, site or start date cell keeps what we
    already have (a register with gaps must not stop a lead's nudges); the status is always
    required. A start date must be readable and not after today in the trust's time zone.
    Open files with `open_register`, or with newline="" so line numbers are right.
    """
    header, records = _records(source)
    columns = _map_columns(header)
    problems: list[RowProblem] = []
    counter = _Progress(progress)
    now = ctx.now()
    # "Today" is the trust's date: just after midnight in summer, UTC is still on yesterday.
    today = now.astimezone(ctx.timezone).date()
    rows = _read_rows(records, columns, today, problems, counter)
    counter.finish()
    if strict:
        # Every row is checked before anything is written, so --strict still writes nothing
        # when a row needs fixing.
        problems += _apply(ctx, rows, now, write=False).problems
    applied = not (strict and problems)
    outcome = _apply(ctx, rows, now, write=True) if applied else _Outcome()
    problems = sorted(problems + outcome.problems, key=lambda problem: problem.line)
    return ImportReport(
        outcome.created, outcome.updated, outcome.unchanged, problems, applied, columns.unused
    )


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)


def _apply(ctx: Context, rows: list[_Row], now: datetime, *, write: bool) -> _Outcome:
    """Resolve each batch's leads and write it (or, with write=False, only find problems).

    One short transaction per WRITE_BATCH rows, with a pause between them on SQLite: a whole
    register in one transaction held SQLite's single write lock for many seconds, and chat
    requests waiting behind it failed ("database is locked"). Each batch looks up what it needs
    afresh, so whatever chat changed in between is seen, and an import that stops half way
    (a crash, Ctrl-C) is finished by running it again.
    """
    outcome = _Outcome()
    added: list[Person] = []  # by earlier batches: checking must see them as writing does
    sites: dict[str, str] = {}  # site key -> its spelling, recorded or first in the file
    for start in range(0, len(rows), WRITE_BATCH):
        batch = rows[start : start + WRITE_BATCH]
        with ctx.sessions.begin() as session:
            batch = _in_recorded_spelling(session, batch, sites)
            existing = _existing_projects(session, sorted(row.key for row in batch))
            leads = [row.lead for row in batch if row.lead is not None]
            people = _People.load(session, leads, added)
            resolved: list[tuple[_Row, Person | None]] = []
            for row in batch:
                try:
                    lead = people.resolve(row.lead, now) if row.lead is not None else None
                except _Skip as skip:
                    outcome.problems.append(RowProblem(row.line, str(skip)))
                    continue
                resolved.append((row, lead))
            added.extend(people.new)
            if write:
                session.add_all(people.new)
                session.flush()  # the new leads' ids
                created, updated, unchanged = _write(session, resolved, existing, now)
                outcome.created += created
                outcome.updated += updated
                outcome.unchanged += unchanged
        if start + WRITE_BATCH < len(rows):
            let_others_write(ctx.sessions)
    if write and rows:
        # A register can multiply the projects many times over: plan with their new numbers.
        with ctx.sessions.begin() as session:
            refresh_planner_statistics(session.connection(), IMPORTED_TABLES)
    return outcome


def _in_recorded_spelling(session: Session, batch: list[_Row], sites: dict[str, str]) -> list[_Row]:
    """The rows with each site spelled as already recorded, else as first in the file.

    One site, one spelling: "riverside hospital" in a register is the Riverside Hospital
    already known, so its figures and lists are one site's. One query per batch.
    """
    keys = {key for row in batch if (key := site_key(row.site)) is not None}
    sites.update(spellings(session, keys - sites.keys()))
    spelled = []
    for row in batch:
        key = site_key(row.site)
        site = None  # a cell of only punctuation names no site: kept as an empty cell is
        if key is not None and row.site is not None:
            site = sites.setdefault(key, row.site)
        spelled.append(row if site == row.site else replace(row, site=site))
    return spelled


def _write(
    session: Session,
    resolved: list[tuple[_Row, Person | None]],
    existing: dict[str, Project],
    now: datetime,
) -> tuple[int, int, int]:
    """Add and update the projects, with an audit event each; (created, updated, unchanged)."""
    created: list[tuple[Project, _Row]] = []
    changed: list[tuple[Project, list[str]]] = []
    # Status changes are audited as /qi-project status does (old and new), so the run chart's
    # history knows a project imported as active, then completed, was active in between.
    status_changes: list[tuple[Project, ProjectStatus]] = []
    for row, lead in resolved:
        project = existing.get(row.key)
        if project is None:
            project = Project(
                name=row.name,
                name_key=row.key,
                site=row.site,
                status=row.status,
                lead_person_id=lead.id if lead else None,
                started_on=row.started_on,
                created_at=now,
                updated_at=now,
            )
            session.add(project)
            created.append((project, row))
        else:
            before = project.status
            if changes := _apply_changes(project, row, lead):
                project.updated_at = now
                changed.append((project, changes))
                if "status" in changes:
                    status_changes.append((project, before))
    session.flush()  # the new projects' ids, for the audit trail
    # One batched INSERT for the whole file's audit trail, not one per project.
    audit.record_many(
        session,
        [
            {
                "at": now,
                "actor_id": None,
                "action": "project.imported",
                "subject_type": "project",
                "subject_id": project.id,
                "line": row.line,
                "status": project.status.value,
                "lead_id": project.lead_person_id,
                "started_on": _iso(project.started_on),
            }
            for project, row in created
        ]
        + [
            {
                "at": now,
                "actor_id": None,
                "action": "project.import_updated",
                "subject_type": "project",
                "subject_id": project.id,
                "changed": changes,
                "status": project.status.value,
                "lead_id": project.lead_person_id,
                "started_on": _iso(project.started_on),
            }
            for project, changes in changed
        ]
        + [
            {
                "at": now,
                "actor_id": None,
                "action": "project.status_changed",
                "subject_type": "project",
                "subject_id": project.id,
                "old": before.value,
                "new": project.status.value,
            }
            for project, before in status_changes
        ],
    )
    return len(created), len(changed), len(resolved) - len(created) - len(changed)


def _apply_changes(project: Project, row: _Row, lead: Person | None) -> list[str]:
    """Bring an existing project in line with its row; the names of the fields that changed."""
    changes = []
    if lead is not None and project.lead_person_id != lead.id:
        project.lead_person_id = lead.id
        changes.append("lead")
    if row.site is not None and project.site != row.site:
        project.site = row.site
        changes.append("site")
    if project.status != row.status:
        project.status = row.status
        changes.append("status")
    if row.started_on is not None and project.started_on != row.started_on:
        project.started_on = row.started_on
        changes.append("start date")
    return changes


def _iso(when: date | None) -> str | None:
    return when.isoformat() if when is not None else None
