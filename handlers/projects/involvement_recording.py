"""`/qi-project involvement`: a lead records how a team member not on chat feels, as they said."""

from __future__ import annotations

from handlers.core.args import Arguments
from handlers.core.clipping import clip
from handlers.core.context import Context
from handlers.core.dates import long_date
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, require_lead_or_admin
from handlers.core.reply import Actor, Reply, say
from handlers.evidence.involvement_questions import (
    ANSWER_LABELS,
    COMMENT_MAX,
    PRIVACY,
    current_period,
    period_end,
    question_text,
)
from handlers.projects.team import ECHO_MAX, find_member, split_project_and_person
from store import involvement_asking
from store.audit import record
from store.involvement import A_LOT, NOT_AT_ALL, NOT_REALLY, SOMEWHAT
from store.models import Membership
from store.names import name_key
from store.projects import current_team
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement

EXAMPLE = '/qi-project involvement "Falls prevention" "Sam Jones" a-lot --agreed'
# How people type the four answers: "a-lot", "a lot", "yes-a-lot", "not_really"...
ANSWER_WORDS = {
    "a lot": A_LOT,
    "yes a lot": A_LOT,
    "somewhat": SOMEWHAT,
    "yes somewhat": SOMEWHAT,
    "not really": NOT_REALLY,
    "not at all": NOT_AT_ALL,
}
ANSWERS_TYPED = "a-lot, somewhat, not-really or not-at-all"


def _answer_key(word: str) -> str:
    return name_key(word.replace("-", " ").replace("_", " ").replace(",", " "))


def _split(words: list[str]) -> tuple[list[str], str, str]:
    """(project and person words, the answer, their comment) from what the lead typed."""
    # The answer is the last run of one to three words that reads as one ("not at all",
    # "a-lot"); what follows it is their comment, what comes before names project and person.
    for start in range(len(words) - 1, -1, -1):
        for length in (3, 2, 1):
            answer = ANSWER_WORDS.get(_answer_key(" ".join(words[start : start + length])))
            if answer is not None and start + length <= len(words):
                return words[:start], answer, " ".join(words[start + length :])
    raise Refusal(f"Which answer did they give? Type one of {ANSWERS_TYPED}, like this: {EXAMPLE}")


def record_involvement_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`involvement "<project>" "<name>" <answer> --agreed ["their comment"]`."""
    left, answer, comment = _split(args.words)
    if len(left) < 2:
        raise Refusal(f"Please say which project and who, like this: {EXAMPLE}")
    comment = " ".join(comment.split())
    if len(comment) > COMMENT_MAX:
        raise Refusal(
            f"Please keep their comment to {COMMENT_MAX} characters (that was "
            f"{len(comment):,}). Nothing was recorded."
        )
    with ctx.sessions.begin() as session:
        lead = acting_person(session, ctx, actor)
        project, name = split_project_and_person(session, left, example=EXAMPLE)
        require_lead_or_admin(session, lead, project)
        member = find_member(project, current_team(session, project.id), name)
        who = clip(member.name, ECHO_MAX)
        if member.role not in LIVED_EXPERIENCE_ROLES:
            raise Refusal(
                f"The question is for the service users and carers on a team, and {who} is on "
                f'the "{project.name}" team as {member.role.label}. Nothing was recorded.'
            )
        if member.involvement != Involvement.TEAM_MEMBER:
            raise Refusal(
                f'The question is for team members, and the "{project.name}" team consults '
                f"{who} now and then. If they are on the team now, change that first: "
                f'/qi-project edit-member "{project.name}" "{member.name}" --team-member'
            )
        if member.in_chat:
            raise Refusal(
                f"{who} uses chat, so I ask them myself, in their own messages, and nobody "
                "else sees their answer. Nothing was recorded."
            )
        if "agreed" not in args.flags:
            raise Refusal(
                f"Before you record how {who} feels, please ask them the question ("
                f'"{question_text(project.name)}") and check they are happy for their answer '
                f"to be recorded. {PRIVACY} When they have said yes, add --agreed: "
                f'/qi-project involvement "{project.name}" "{member.name}" '
                f"{answer.replace('_', '-')} --agreed"
            )
        membership = session.get(Membership, member.membership_id)
        assert membership is not None
        start, period = current_period(ctx)
        row = involvement_asking.open_row(
            session, membership, period=period, start=start, now=ctx.now()
        )
        before = row.answer
        row.answer = answer
        row.answered_at = ctx.now()
        row.recorded_by_id = lead.id
        if comment:
            row.comment = comment
        # Not the answer: the audit trail must never tell how one person feels.
        record(
            session,
            at=ctx.now(),
            actor_id=lead.id,
            action="involvement.recorded",
            subject_type="involvement_answer",
            subject_id=row.id,
            agreed=True,
        )
        ends = long_date(period_end(ctx, start))
    said = f'"{ANSWER_LABELS[answer]}"'
    if before is None:
        text = f'Thank you. I\'ve recorded {said} for {who} on the "{project.name}" team'
    else:
        text = (
            f'Thank you. {who}\'s answer for the "{project.name}" team is now {said} (it was '
            f'"{ANSWER_LABELS.get(before, before)}")'
        )
    text += (
        f", with your note that they agreed{', and their comment' if comment else ''}. It "
        f"counts for the weeks up to {ends}; they are asked again after that. {PRIVACY}"
    )
    return say(text)
