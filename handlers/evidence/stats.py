"""The evidence: weekly participation snapshots, back-fill, and /qi-stats with its run chart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import ArgumentError, parse_id, split_words
from handlers.core.clipping import clip
from handlers.core.context import Context
from handlers.core.dates import (
    NoYear,
    date_forms,
    example_past_day,
    leading_date,
    local_today,
    long_date,
)
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import acting_person, find_forum, require_admin
from handlers.core.matching import match_site
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.weeks import week_of, week_start
from handlers.core.wording import (
    counts_by_role,
    did_you_mean,
    involvement_headline_text,
    on_day,
    plural,
    when,
)
from handlers.evidence.big_and_little_i import with_big_and_little_i
from handlers.evidence.chart_spec import baseline_words, format_value, signal_phrase
from handlers.evidence.charts import attendance_chart, run_chart
from handlers.evidence.involvement_report import handle_involvement_stats
from handlers.evidence.run_chart import (
    BASELINE_POINTS,
    RunChartAnalysis,
    analyse,
    baseline_points,
    explain,
)
from handlers.forum.meetings import going_by_role
from store import forums as forum_store
from store import stats as stats_store
from store.audit import record
from store.models import NAME_MAX, ChartNote, Forum, Project
from store.roles import LIVED_EXPERIENCE_ROLES, Role
from store.sites import Site

EXAMPLE_DELETE_NOTE = "/qi-stats note delete 3"
# `/qi-stats notes` lists this many, the latest first.
NOTES_SHOWN = 20
NOTE_MAX = 200
# A back-filled week is measured as it stood at this local time on its Monday: when the
# weekly snapshot itself is taken, just before the reminders go out (the defaults of
# NUDGE_DAY and NUDGE_TIME; callers pass the configured ones).
BACKFILL_AT = time(9, 30)


def snapshot_rows(
    history: stats_store.ProjectHistory,
    attendance: Mapping[tuple[str, int], Counter[Role | None]],
    *,
    week: str,
    moment: datetime,
    backfilled: bool,
) -> list[dict[str, object]]:
    """One week's rows: overall, each site, and each forum that met that week."""
    return project_rows(history, week=week, moment=moment, backfilled=backfilled) + forum_rows(
        attendance, week=week, moment=moment, backfilled=backfilled
    )


def project_rows(
    history: stats_store.ProjectHistory, *, week: str, moment: datetime, backfilled: bool
) -> list[dict[str, object]]:
    """A week's rows for the projects: overall and each site, as they stood at `moment`."""
    return [
        _row(week, moment, backfilled, scope, figures.active, figures.involved, None)
        for scope, figures in sorted(history.figures_at(moment).items())
    ]


def forum_rows(
    attendance: Mapping[tuple[str, int], Counter[Role | None]],
    *,
    week: str,
    moment: datetime,
    backfilled: bool,
) -> list[dict[str, object]]:
    """A week's rows for each forum that met that week: who said they were going, by role."""
    return [
        _row(
            week,
            moment,
            backfilled,
            stats_store.forum_scope(forum_id),
            0,
            0,
            {(role.value if role else "unknown"): n for role, n in counts.items()},
        )
        for (meeting_week, forum_id), counts in attendance.items()
        if meeting_week == week
    ]


def _row(
    week: str,
    moment: datetime,
    backfilled: bool,
    scope: str,
    active: int,
    involved: int,
    attendance: dict[str, int] | None,
) -> dict[str, object]:
    return {
        "week": week,
        "week_start": week_start(week),
        "taken_at": moment,
        "scope": scope,
        "active_projects": active,
        "involved_projects": involved,
        "attendance": attendance,
        "backfilled": backfilled,
    }


def take_snapshot(ctx: Context) -> str:
    """Record this week's figures as they stand now (again this week: the latest wins)."""
    now = ctx.now()
    week = week_of(now, ctx)
    with ctx.sessions.begin() as session:
        history = stats_store.project_history(session, ctx.timezone)
        attendance = stats_store.by_week(
            stats_store.attendance_by_meeting(session), lambda at: week_of(at, ctx)
        )
        rows = snapshot_rows(history, attendance, week=week, moment=now, backfilled=False)
        # This week's meetings are mostly still to come: last week's attendance, taken last
        # Monday, is only now complete, so it is taken again (the projects' figures are not:
        # they are as they stood at last week's moment).
        last_week = week_of(now - timedelta(days=7), ctx)
        rows += forum_rows(attendance, week=last_week, moment=now, backfilled=False)
        stats_store.save_snapshots(session, rows, replace=True)
    return week


@dataclass(frozen=True)
class Backfilled:
    """What a back-fill did, in the numbers people are then shown."""

    weeks: int  # past weeks gone through, up to last week
    first: date | None  # the Monday of the first of them
    from_first_project: bool  # whether they start when the first project began
    without_active: int  # of them, weeks when no project was active: the chart leaves them out
    kept: int  # of them, weeks already recorded and kept as they were (not `replace`)
    any_projects: bool  # whether any project is recorded at all
    # Whether this week's figure is taken already (its reminder time came): on the chart too.
    this_week_taken: bool = False


def backfill(
    ctx: Context,
    *,
    since: date | None = None,
    replace: bool = False,
    weekday: int = 0,
    at: time = BACKFILL_AT,
) -> int:
    """Work out past weeks' figures from history (see backfill_report); how many weeks."""
    return backfill_report(ctx, since=since, replace=replace, weekday=weekday, at=at).weeks


def backfill_report(
    ctx: Context,
    *,
    since: date | None = None,
    replace: bool = False,
    weekday: int = 0,
    at: time = BACKFILL_AT,
) -> Backfilled:
    """Work out past weeks' figures from membership, status and meeting history.

    From `since` (default: the week the first project was recorded) up to last week. Weeks
    that already have a snapshot are kept unless `replace`. Each week is measured at its
    weekly moment (`weekday`, 0 for Monday, at `at` local time), as the live figure is.
    """
    now = ctx.now()
    this_week = week_of(now, ctx)
    with ctx.sessions.begin() as session:
        history = stats_store.project_history(session, ctx.timezone)
        if not history.projects:
            return Backfilled(0, None, True, 0, 0, any_projects=False)
        earliest = min(began for _, _, began, _ in history.projects).astimezone(ctx.timezone)
        # Nothing to count before the first project began, whatever `since` says.
        first = max(since, earliest.date()) if since else earliest.date()
        attendance = stats_store.by_week(
            stats_store.attendance_by_meeting(session), lambda at: week_of(at, ctx)
        )
        recorded = set() if replace else _weeks_recorded(session)
        monday = first - timedelta(days=first.weekday())
        rows: list[dict[str, object]] = []
        weeks = without_active = kept = 0
        while True:
            day = monday + timedelta(days=weekday)
            moment = datetime.combine(day, at, tzinfo=ctx.timezone)
            week = week_of(moment, ctx)
            if week >= this_week:
                break
            found = snapshot_rows(history, attendance, week=week, moment=moment, backfilled=True)
            rows.extend(found)
            weeks += 1
            kept += week in recorded
            without_active += not any(
                row["scope"] == stats_store.OVERALL and row["active_projects"] for row in found
            )
            monday += timedelta(days=7)
        stats_store.save_snapshots(session, rows, replace=replace)
        this_week_taken = this_week in _weeks_recorded(session)
    starts = first - timedelta(days=first.weekday())
    return Backfilled(
        weeks,
        starts if weeks else None,
        from_first_project=first == earliest.date(),
        without_active=without_active,
        kept=kept,
        any_projects=True,
        this_week_taken=this_week_taken,
    )


def _weeks_recorded(session: Session) -> set[str]:
    """The weeks that already have an overall figure (a back-fill keeps them)."""
    return {snapshot.week for snapshot in stats_store.snapshots(session, stats_store.OVERALL)}


def refigure_since(session: Session, ctx: Context, since: datetime) -> int:
    """Take again, each at its own moment, the weeks' figures taken since `since`; how many.

    For history corrected after the fact (a member recorded as on the team since a past
    date): those weeks were measured without them. The figures are then marked as worked out
    later. Forum attendance is left as it was.
    """
    moments = stats_store.taken_since(session, since)
    if not moments:
        return 0
    history = stats_store.project_history(session, ctx.timezone)
    rows = [
        row
        for week, moment in moments
        for row in project_rows(history, week=week, moment=moment, backfilled=True)
    ]
    stats_store.save_snapshots(session, rows, replace=True)
    return len(moments)


# --- /qi-stats ----------------------------------------------------------------------------


def handle_stats_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """/qi-stats: headline and run chart; `forum`: attendance; `note`: mark a change."""
    try:
        words = split_words(text)
    except ArgumentError as error:
        raise Refusal(str(error)) from None
    first = words[0].casefold() if words else ""
    second = words[1].casefold() if len(words) > 1 else ""
    if first == "notes":
        return list_notes(ctx)
    if first == "note" and second in ("delete", "remove"):
        return _delete_note(ctx, actor, words[2:])
    if first == "note" and second in ("edit", "change"):
        return _edit_note(ctx, actor, words[2:])
    if first == "note":
        return _add_note(ctx, actor, words[1:])
    if first == "forum":
        return forum_stats(ctx, " ".join(words[1:]))
    if first == "involvement":
        return handle_involvement_stats(ctx, actor, words[1:])
    return with_big_and_little_i(ctx, project_stats(ctx, " ".join(words)), " ".join(words))


def project_stats(ctx: Context, site: str = "") -> Reply:
    """The headline and the weekly run chart, overall or for one site."""
    with ctx.sessions() as session:
        # Set-based and small: the weeks' three figures, the notes, and the headline counted
        # in SQL, in one statement (two or three for a site, which is looked up first).
        if site:
            site = find_site(session, site).name
        scope = stats_store.site_scope(site) if site else stats_store.OVERALL
        weeks, notes, total, involved = stats_store.chart_inputs(session, scope)
        nothing_yet = not total and not weeks and not site and not _any_project(session)
    if nothing_yet:
        return say(NOTHING_RECORDED, heading=HEADING)
    where = f" at {site}" if site else ""
    if not weeks:
        return say(
            f"{_headline(involved, total, where)}. {NO_WEEKS_YET}",
            heading=HEADING,
        )
    # Today's figure, the headline's, is drawn apart after the last week's.
    on = ctx.now().astimezone(ctx.timezone).date()
    reply = _chart_reply(weeks, notes, today=(involved, total), site=site, on=on)
    # The words are kept; the picture goes out undrawn, so drawn bytes live only in the
    # drawing cache (handlers.evidence.chart_cache), which draws each chart once.
    return replace(reply, image=reply.image.undrawn() if reply.image else None)


HEADING = "Lived experience on QI teams"
BACKFILL_COMMAND = "qi-nudge stats --backfill"
IMPORT_COMMAND = "qi-nudge import-projects FILE.csv"
# An empty database: what to do first, naming the commands (chat and `qi-nudge stats` alike).
NOTHING_RECORDED = (
    "No projects are recorded yet, so there is nothing to count.\n"
    "To start, load the trust's project register: whoever runs the bot types "
    f"{IMPORT_COMMAND} (a spreadsheet saved as CSV, with each project's name, lead, site and "
    'status). Or add a project here: /qi-project new "Falls prevention".\n'
    f"Then {BACKFILL_COMMAND} works out the past weeks' figures from the projects' start "
    "dates, for the run chart."
)
NO_WEEKS_YET = (
    "There are no weekly figures yet to draw a run chart: the first is recorded when the "
    "weekly reminders next go out. To see the past weeks now, whoever runs the bot can work "
    f"them out from the projects' history: {BACKFILL_COMMAND}"
)
EXPLAIN_LABEL = "What does this mean?"


def _any_project(session: Session) -> bool:
    """Whether any project is recorded at all, active or not."""
    return session.scalar(select(Project.id).limit(1)) is not None


def _headline(involved: int, total: int, where: str) -> str:
    """'1 of 2 active projects has a service user or carer on the team at Ward 7' (no stop)."""
    if not total:
        return f"No project{where} is active just now"
    return involvement_headline_text(involved, total).rstrip(".") + where


@lru_cache(maxsize=32)
def _chart_reply(
    weeks: tuple[stats_store.WeekFigures, ...],
    notes: tuple[tuple[date, str], ...],
    *,
    today: tuple[int, int],
    site: str,
    on: date | None = None,
) -> Reply:
    """The answer for these figures: worked out (findings, alt text, digest) once per change.

    `today` is (involved, active) as counted now, `on` that day, for the headline and the
    chart's 'so far this week' point. Everything it says comes
    from its arguments, so the same figures give the same Reply; its picture is drawn once
    too (handlers.evidence.chart_cache), whoever asks.
    """
    points = [(w.week_start, _share(w)) for w in weeks]
    analysis = _analysed(tuple(value for _, value in points))
    dates = [when for when, _ in points]
    involved, total = today
    where = f" at {site}" if site else ""
    headline = _headline(involved, total, where)
    if total:
        headline += _against_baseline(involved / total, analysis, dates)
    title = "Share of active projects with a service user or carer on the team" + (
        f" ({site})" if site else ""
    )
    image = run_chart(
        points,
        analysis,
        title=title,
        y_label="Share of active projects",
        notes=notes,
        provisional=(on, involved / total) if on and total else None,
    )
    rules = sorted({signal.rule for signal in analysis.signals})
    explain = Button(
        EXPLAIN_LABEL, ids.EXPLAIN_CHART, f"{analysis.baseline or len(points)}:{','.join(rules)}"
    )
    return Reply(
        sections=(
            Section(heading=HEADING, text=f"{headline}."),
            Section(
                text=f"{_weeks_shown(weeks)}\n{_findings(analysis, points)}",
                buttons=(explain,),
            ),
        ),
        image=image,
    )


@lru_cache(maxsize=64)
def _analysed(values: tuple[float, ...]) -> RunChartAnalysis:
    """The rules' findings, judged against the baseline: the same weeks, the same findings."""
    return analyse(values, baseline=baseline_points(len(values)) or None, unit="week")


def _against_baseline(now: float, analysis: RunChartAnalysis, dates: Sequence[date]) -> str:
    """' (50% today), up from a baseline of 20%: the middle value of the first 12 weeks, ...'."""
    if analysis.median is None:
        return ""
    then = analysis.median
    how = baseline_words(analysis, dates)
    today = f" ({format_value(now, True)} today)"
    baseline = f"a baseline of {format_value(then, True)}: {how}"
    if format_value(now, True) == format_value(then, True):
        return f"{today}, the same as {baseline}"
    return f"{today}, {'up' if now > then else 'down'} from {baseline}"


def _weeks_shown(weeks: Sequence[stats_store.WeekFigures]) -> str:
    """Which weeks the chart draws: its last week, and why any weeks between are missing.

    The headline is counted now; the chart's points are the weekly figures, so it says where
    they stop. A week with no active project has no share, so the chart leaves it out.
    """
    first, last = weeks[0].week_start, weeks[-1].week_start
    spanned = (last - first).days // 7 + 1
    missing = spanned - len(weeks)
    gap = (
        f" ({plural(missing, 'other week')} since {on_day(first)} had no active project, so "
        "no share to draw)"
        if missing > 0
        else ""
    )
    return (
        f"The chart shows {plural(len(weeks), 'weekly figure')}, up to the week of "
        f"{on_day(last)}{gap}; the figure above is today's."
    )


def _findings(analysis: RunChartAnalysis, points: Sequence[tuple[date, float]]) -> str:
    """What the rules found: one short sentence each, in the alt text's very words."""
    if not analysis.signals:
        return "No sign yet of change beyond the usual week-to-week ups and downs."
    dates = [when for when, _ in points]
    values = [value for _, value in points]

    def fmt(value: float) -> str:
        return format_value(value, True)

    return "What stands out:\n" + "\n".join(
        f"• {signal_phrase(signal, analysis, dates, values, fmt)}." for signal in analysis.signals
    )


def handle_explain_chart_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'What does this mean?': the run chart's baseline and each sign it found, explained."""
    return explain_chart(value)


def explain_chart(value: str) -> Reply:
    """The explanation a chart's "What does this mean?" button carries (its value, as given)."""
    count, _, found = value.partition(":")
    baseline = int(count) if count.isdigit() and 0 < int(count) <= BASELINE_POINTS else 0
    rules = [rule for rule in found.split(",") if rule]
    return say(
        explain(rules, unit="week", baseline=baseline or BASELINE_POINTS),
        heading="What the run chart shows",
    )


def forum_stats(ctx: Context, name: str = "") -> Reply:
    """Attendance at the forum's meetings: service users and carers against staff."""
    with ctx.sessions() as session:
        forum: Forum = find_forum(session, name)
        meetings = [
            m for m in stats_store.attendance_by_meeting(session, forum.id) if m[2] <= ctx.now()
        ]
        forum_name = forum.name
        coming = _next_meeting_line(session, ctx, forum.id)
    if not meetings:
        return say(
            f'"{forum_name}" has not met yet, so there is no attendance to show. It will appear '
            "here after the first meeting." + (f"\n{coming}" if coming else ""),
            heading=f"Who comes to {forum_name}",
        )
    rows = [
        (
            starts_at.astimezone(ctx.timezone).date(),
            sum(n for role, n in counts.items() if role in LIVED_EXPERIENCE_ROLES),
            counts.get(Role.STAFF, 0),
        )
        for _id, _forum, starts_at, counts in meetings
    ]
    on, lived, staff = rows[-1]
    people = plural(lived, "service user or carer", "service users and carers")
    image = attendance_chart(rows, title=f"Who said they were coming to {forum_name}")
    return Reply(
        sections=(
            Section(
                heading=f"Who comes to {forum_name}",
                text=(
                    f"{plural(len(rows), 'meeting')} so far. For the last one "
                    f"({on:%-d %B %Y}), {people} and {staff} staff said they were coming."
                    + (f"\n{coming}" if coming else "")
                ),
            ),
        ),
        image=image,
    )


def _next_meeting_line(session: Session, ctx: Context, forum_id: int) -> str | None:
    """Who has said they are coming to the forum's next meeting, by role; None if none is planned.

    Every answer counts: in chat, and on the page that e-mails and texts link to.
    """
    meeting = forum_store.next_meetings(session, ctx.now(), [forum_id]).get(forum_id)
    if meeting is None:
        return None
    going = going_by_role(forum_store.rsvp_tally(session, meeting.id))
    total = sum(going.values())
    said = f"{total} so far ({counts_by_role(going)})" if total else "nobody has said yet"
    return f"Coming to the next meeting ({when(meeting.starts_at, ctx.timezone)}): {said}."


def note_example(ctx: Context) -> str:
    """How to mark a change on the chart, with a day a few weeks back."""
    return f'/qi-stats note {long_date(example_past_day(ctx))} "Forum relaunched"'


def edit_note_example(ctx: Context, number: int = 3) -> str:
    """How to change a note on the chart, with a day a few weeks back."""
    return f'/qi-stats note edit {number} {long_date(example_past_day(ctx))} "Forum relaunched"'


def _read_note(ctx: Context, words: list[str], example: str) -> tuple[date, str]:
    """A note's date and words, as typed; a Refusal says kindly what is wrong."""
    if len(words) < 2:
        raise Refusal(f"Give a date and a few words, for example: {example}")
    found = leading_date(words, today=local_today(ctx), no_year=NoYear.LAST)
    if found is None:
        forms = date_forms(example_past_day(ctx))
        raise Refusal(f'"{words[0]}" is not a date I can read. {forms} For example: {example}')
    on, note_words = found
    text = " ".join(note_words).strip()
    if not text:
        raise Refusal(f"Give a date and a few words, for example: {example}")
    if len(text) > NOTE_MAX:
        raise Refusal(f"Please keep the note under {NOTE_MAX} characters; it sits on the chart.")
    return on, text


def _add_note(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """Mark a change on the run chart (organisers only): a date and a few words."""
    on, text = _read_note(ctx, words, note_example(ctx))
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        stats_store.add_note(session, on=on, text=text, by_id=person.id, now=ctx.now())
    return say(f'Noted on the run chart: {on:%-d %B %Y}, "{text}".')


def list_notes(ctx: Context) -> Reply:
    """The run chart's notes with their numbers, the latest first."""
    with ctx.sessions() as session:
        notes, total = stats_store.latest_notes(session, NOTES_SHOWN)
        lines = [_note_line(note.id, note.on_date, note.text) for note in notes]
        first = notes[0].id if notes else 0  # the examples name a real note
    if not total:
        return say(
            f"There are no notes on the run chart yet. Organisers can add one: {note_example(ctx)}",
            heading="Notes on the run chart",
        )
    listed = shortlist(lines, NOTES_SHOWN, total=total)
    text = "\n".join(listed.shown)
    if listed.more:
        text += f"\n{and_more(listed.more, 'note')}, earlier on."
    return Reply(
        sections=(
            Section(heading="Notes on the run chart", text=text),
            Section(
                text=f"Organisers can change one by its number: {edit_note_example(ctx, first)}, "
                f"or take it off the chart: /qi-stats note delete {first}"
            ),
        )
    )


def _note_line(number: int, on: date, text: str) -> str:
    return f'• #{number} {on:%-d %B %Y}: "{text}"'


def _note_number(text: str, example: str) -> int:
    number = parse_id(text.removeprefix("#"))
    if number is None:
        raise Refusal(
            f"Please give the note's number, like this: {example}. "
            "Type /qi-stats notes to see the numbers."
        )
    return number


def _note_to_change(session: Session, number: int) -> ChartNote:
    note = session.get(ChartNote, number, with_for_update=True)
    if note is None:
        raise Refusal(
            f"There is no note #{number} on the run chart. Type /qi-stats notes to see them."
        )
    return note


def _delete_note(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """Take a note off the run chart (organisers only)."""
    number = _note_number(words[0] if words else "", EXAMPLE_DELETE_NOTE)
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        note = _note_to_change(session, number)
        on, text = note.on_date, note.text
        session.delete(note)
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="chart_note.deleted",
            subject_type="chart_note",
            subject_id=number,
        )
    return say(f'Took the note off the run chart: {on:%-d %B %Y}, "{text}".')


def _edit_note(ctx: Context, actor: Actor, words: list[str]) -> Reply:
    """Change a note's date and words (organisers only)."""
    example = edit_note_example(ctx)
    number = _note_number(words[0] if words else "", example)
    on, text = _read_note(ctx, words[1:], example)
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        require_admin(session, person)
        note = _note_to_change(session, number)
        note.on_date, note.text = on, text
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="chart_note.edited",
            subject_type="chart_note",
            subject_id=number,
        )
    return say(f'Changed note #{number} on the run chart to: {on:%-d %B %Y}, "{text}".')


def find_site(session: Session, text: str) -> Site:
    """The site named, as /qi-projects finds it; a Refusal offering the closest if unsure."""
    match = match_site(session, text, typos=True)
    if match.found is not None:
        return match.found
    typed = clip(text, NAME_MAX)  # no site is longer: a longer text is only repeated, shorter
    if match.ambiguous:
        raise Refusal(
            f'More than one site matches "{typed}".{did_you_mean(match.candidates)} '
            "Type a little more of the site's name."
        )
    raise Refusal(
        f'I don\'t know a site called "{typed}".{did_you_mean(match.candidates)} '
        "Type /qi-projects to see each project with its site."
    )


def _share(week: stats_store.WeekFigures) -> float:
    return week.involved_projects / week.active_projects if week.active_projects else 0.0
