"""How involved service users and carers feel: /qi-stats involvement, in aggregate only.

Organisers see the share answering "Yes, a lot" or "Yes, somewhat" each period, as a run chart,
with the latest period's comments (no names, in their private answer only: never in the chart,
which may be posted in a channel). A lead sees their own teams' counts. A period or a team
with fewer than store.involvement.MIN_ANSWERS answers is never shown, so nobody can be picked
out from their answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import find_project, known_person
from handlers.core.reply import Actor, Reply, Section, say
from handlers.core.wording import plural
from handlers.evidence.charts import run_chart
from handlers.evidence.involvement_questions import current_period
from handlers.evidence.run_chart import ASTRONOMICAL, RUNS, SHIFT, TREND, Signal, analyse
from store import involvement_stats
from store.involvement import (
    A_LOT,
    ANSWERS,
    MIN_ANSWERS,
    NOT_AT_ALL,
    NOT_REALLY,
    SOMEWHAT,
    TOP_TWO,
)
from store.involvement_stats import PeriodAnswers
from store.models import Person
from store.people import is_admin

HEADING = "How involved people feel"
QUESTION = "Do you feel your views shape what the team does?"
# The answers as people were offered them.
ANSWER_WORDS = {
    A_LOT: "Yes, a lot",
    SOMEWHAT: "Yes, somewhat",
    NOT_REALLY: "Not really",
    NOT_AT_ALL: "Not at all",
}
# Organisers see this many of the latest period's comments, the latest first.
COMMENTS_SHOWN = 5
TOO_FEW = "not enough answers yet to show without identifying anyone"
TEAM_SUMMARY_NOTE = (
    f"Shown only for a round of questions that is over, with at least {MIN_ANSWERS} answers "
    "given by the team members themselves, so that nobody's answer can be picked out."
)
CHART_TITLE = "Share of service users and carers who feel their views shape the team's work"
# One short sentence per kind of signal; the longer statistics are in the README.
SIGNAL_MEANING = {
    SHIFT: "Several periods in a row on one side of the middle line: probably a real change.",
    TREND: "Several periods in a row going the same way: probably a real change.",
    RUNS: "The line crosses the middle an unusual number of times: worth a closer look.",
    ASTRONOMICAL: "One period stands far from the rest: worth checking what happened then.",
}
NOT_ORGANISER = (
    "Only QI forum organisers can see how involved people feel across all the teams: the "
    "answers are kept private. If you lead a project, /qi-stats involvement mine shows your "
    "own team's summary once enough people have answered."
)


def handle_involvement_stats(ctx: Context, actor: Actor, words: Sequence[str]) -> Reply:
    """/qi-stats involvement: the organisers' chart; `mine` or a project name: a lead's team."""
    if not words:
        return organiser_report(ctx, actor)
    if len(words) == 1 and words[0].casefold() in ("mine", "my", "me"):
        return lead_summary(ctx, actor)
    return team_summary(ctx, actor, " ".join(words))


def organiser_report(ctx: Context, actor: Actor) -> Reply:
    """Share of answers in the top two per period, over time, with comments; organisers only."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if person is None or not is_admin(session, person.id):
            raise Refusal(NOT_ORGANISER)
    return involvement_over_time(ctx, with_comments=True)


def involvement_over_time(ctx: Context, *, with_comments: bool) -> Reply:
    """The run chart of the share feeling involved; the latest comments if `with_comments`.

    For organisers (the caller checks): in chat, or `qi-nudge stats --involvement`.
    """
    with ctx.sessions() as session:
        periods = involvement_stats.answers_by_period(session)
        shown = [p for p in periods if p.total >= MIN_ANSWERS]
        comments = (
            involvement_stats.period_comments(session, shown[-1].start, COMMENTS_SHOWN)
            if shown and with_comments
            else []
        )
    left_out = len(periods) - len(shown)
    why = _left_out(left_out)
    if not shown:
        return say(
            "No period has enough answers yet to show: each needs at least "
            f"{MIN_ANSWERS}, so that nobody can be picked out from their answer."
            + (f" {why}" if why else ""),
            heading=HEADING,
        )
    latest = shown[-1]
    points = [(p.start, _top_two_share(p)) for p in shown]
    analysis = analyse([value for _, value in points], unit="period")
    image = run_chart(
        points,
        analysis,
        title=CHART_TITLE,
        y_label='Share answering "Yes, a lot" or "Yes, somewhat"',
    )
    sections = [
        Section(
            heading=HEADING,
            text=(
                f'"{QUESTION}" In the period from {_day(latest)}, '
                f"{_top_two_text(latest)}.\n{_counts_line(latest)}"
            ),
        ),
        Section(
            text=f"{plural(len(points), 'period')} shown. {_findings(analysis.signals)}"
            + (f"\n{why}" if why else "")
        ),
    ]
    if comments:
        sections.append(
            Section(
                heading="What people said (latest period, no names)",
                text="\n".join(f"• “{comment}”" for comment in comments)
                + "\nFor organisers only: please keep these out of channels and reports.",
            )
        )
    return Reply(sections=tuple(sections), image=image)


def lead_summary(ctx: Context, actor: Actor) -> Reply:
    """Each team the person leads: its latest period over with enough answers, no names."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        led = involvement_stats.led_projects(session, person.id) if person else []
        periods = _closed_periods(session, ctx, [project_id for project_id, _ in led], person)
        lines = [_team_line(name, periods.get(project_id, [])) for project_id, name in led]
    if not lines:
        return say(
            "You don't lead a project here, so there is no team summary to show. Leads see "
            "how involved their team's service users and carers feel, once at least "
            f"{MIN_ANSWERS} have answered.",
            heading=HEADING,
        )
    return say(f'"{QUESTION}"\n' + "\n".join(lines) + f"\n{TEAM_SUMMARY_NOTE}", heading=HEADING)


def team_summary(ctx: Context, actor: Actor, name: str) -> Reply:
    """One team's latest period over with enough answers, for its lead or an organiser."""
    with ctx.sessions() as session:
        project = find_project(session, name, open_only=False)
        person = known_person(session, actor)
        allowed = person is not None and (
            project.lead_person_id == person.id or is_admin(session, person.id)
        )
        if not allowed:
            raise Refusal(
                f'Only the lead of "{project.name}" or a forum organiser can see how involved '
                "its team feels: the answers are kept private."
            )
        periods = _closed_periods(session, ctx, [project.id], person)
        line = _team_line(project.name, periods.get(project.id, []))
    return say(f'"{QUESTION}"\n{line}\n{TEAM_SUMMARY_NOTE}', heading=HEADING)


def _closed_periods(
    session: Session, ctx: Context, project_ids: Sequence[int], viewer: Person | None
) -> dict[int, list[PeriodAnswers]]:
    """The teams' periods already over, without the answers the viewer recorded themselves."""
    open_since, _key = current_period(ctx)
    return involvement_stats.teams_closed_periods(
        session, project_ids, before=open_since, viewer_id=viewer.id if viewer else None
    )


def _team_line(name: str, periods: Sequence[PeriodAnswers]) -> str:
    """'• Falls prevention (from 5 October 2026): 4 of 5 answers said ...' or why not."""
    enough = [period for period in periods if period.total >= MIN_ANSWERS]
    if not enough:
        return f"• {name}: {TOO_FEW}."
    latest = enough[-1]
    return f"• {name} (the weeks from {_day(latest)}): {_top_two_text(latest)}."


def _top_two_share(period: PeriodAnswers) -> float:
    return sum(period.counts[a] for a in TOP_TWO) / period.total


def _top_two_text(period: PeriodAnswers) -> str:
    """'7 of 9 answered "Yes, a lot" or "Yes, somewhat" (78%)'."""
    top = sum(period.counts[a] for a in TOP_TWO)
    share = round(100 * top / period.total)
    return (
        f'{top} of {plural(period.total, "answer")} said "Yes, a lot" or "Yes, somewhat" ({share}%)'
    )


def _counts_line(period: PeriodAnswers) -> str:
    """Every answer with its count: 'Yes, a lot: 4; Yes, somewhat: 3; ...'."""
    return "; ".join(f"{ANSWER_WORDS[a]}: {period.counts[a]}" for a in ANSWERS) + "."


def _day(period: PeriodAnswers) -> str:
    return f"{period.start.day} {period.start:%B %Y}"


def _left_out(count: int) -> str:
    """Why some periods are missing from the chart, or '' when none are."""
    if not count:
        return ""
    return (
        f"{plural(count, 'period')} with fewer than {MIN_ANSWERS} answers "
        f"{'is' if count == 1 else 'are'} left out, so that nobody can be picked out."
    )


def _findings(signals: Sequence[Signal]) -> str:
    """What the run-chart rules found: one line per finding, one short sentence per kind."""
    if not signals:
        return "No sign yet of change beyond the usual ups and downs."
    lines, said = [], set()
    for signal in signals:
        found = signal.description.partition(". ")[0].rstrip(".")
        lines.append(f"• {found}.")
        if signal.rule not in said:
            said.add(signal.rule)
            lines.append(f"  {SIGNAL_MEANING[signal.rule]}")
    return "Signs of real change:\n" + "\n".join(lines)
