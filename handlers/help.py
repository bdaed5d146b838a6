"""/qi-help: plain-English help for every command."""

from __future__ import annotations

from handlers.core.clipping import clip
from handlers.core.context import Context
from handlers.core.dates import day_first, example_meeting_day, example_past_day, long_date
from handlers.core.reply import Actor, Reply, Section, refuse
from handlers.evidence import stats
from handlers.forum import organising, outside_members
from store.names import name_key
from store.roles import role_list_text

INTRO = (
    "qi-nudge helps Quality Improvement (QI) projects include people with lived experience: "
    "service users and carers. QI projects are teams trying to make care better, step by step."
)

TOPICS: dict[str, tuple[str, str]] = {
    "join": (
        "/qi-join",
        "Join a project team or the QI forum.\n"
        "• /qi-join: I'll ask you which team and how you'll take part\n"
        "• /qi-join Falls prevention as carer: join a project in one go\n"
        "• /qi-join forum: join the QI forum, where staff and people with lived experience meet "
        "(I'll ask how you come; you don't have to say)\n"
        f'The ways to take part are: {role_list_text()}. Say it as you would: "as a carer", '
        '"as carers", "as a service user" and "as a patient" all work. Joining twice does no harm.',
    ),
    "leave": (
        "/qi-leave",
        "Leave a project team or the forum. You can join again with one button if you change "
        "your mind.\n• /qi-leave: I'll show your teams and forums to choose from\n"
        "• /qi-leave Falls prevention\n• /qi-leave forum",
    ),
    "projects": (
        "/qi-projects",
        "See the active projects, who leads them, and whether a service user or carer is on "
        "each team.\n• /qi-projects: all of them\n• /qi-projects mine: yours\n"
        "• /qi-projects falls: those with 'falls' in the name or place\n"
        "• /qi-projects Riverside Hospital: those at one site (the start of its name is enough)",
    ),
    "project": (
        "/qi-project",
        "Start a project or look after its team.\n"
        '• /qi-project new "Falls prevention": start a project; you are the lead. Add "as carer" '
        "(or another role) if you will be on the team in that role too, and "
        '--site "Riverside Hospital" for the hospital or service it is based at (a ward or team '
        "goes in the project's name)\n"
        '• /qi-project add-member "Falls prevention" "Sam Jones" as carer --consent: record '
        "someone who doesn't use chat, once they have agreed (add --consulted if they are "
        "asked now and then rather than being on the team; add --since {past_day} if they have "
        "been on it since then)\n"
        '• /qi-project show "Falls prevention": see the team\n'
        '• /qi-project status "Falls prevention" completed: active, on hold, completed or stopped\n'
        "• /qi-project reminders off: no more weekly reminders (on: start them again)\n"
        '• /qi-project involvement "Falls prevention" "Sam Jones" a-lot --agreed: for a '
        "service user or carer on the team who doesn't use chat, record their answer to "
        '"do you feel your views shape what the team does?" (a-lot, somewhat, not-really or '
        "not-at-all), once they have agreed; a comment of theirs can follow in quotes\n"
        "• /qi-project questions off: no more questions about how involved you feel on your "
        "teams (on: start them again)\n"
        '• /qi-project remove-member "Falls prevention" "Sam Jones": take someone off the team '
        "(lead or organiser; their time on it is kept)\n"
        '• /qi-project edit-member "Falls prevention" "Sam Jones" --name "Sam Jonas" as service '
        "user: put right someone's name or role; --consulted or --team-member, and --since "
        "2026-03-02, change how and since when they take part. The lead also finds a "
        '"Change or remove someone" button under the team on /qi-project show',
    ),
    "forum": (
        "/qi-forum",
        "See the next few QI forum meetings, who is going to each, and say whether you'll come.\n"
        'Organisers can add a meeting: /qi-forum add-meeting {meeting_day} 2pm at "Room 4" '
        "(dates day first, like 3/12 for 3 December; times like 2pm, 2:30pm or 14:00)\n"
        "A project team can ask for time at the next meeting to talk something through with "
        'people with lived experience: /qi-forum slot "Falls prevention" "Our idea"\n'
        "Organisers can also:\n"
        "• /qi-forum meetings: see the meetings to come, with their numbers\n"
        "• /qi-forum move-meeting 5 {meeting_day} 2pm: move meeting 5 (the people going are "
        "told)\n"
        f"• {organising.CANCEL_EXAMPLE}: cancel it; {organising.UNCANCEL_EXAMPLE}: bring it "
        "back\n"
        "• /qi-forum slots: the requests for a slot waiting for a decision, to accept or decline\n"
        f"• {outside_members.ADD_EXAMPLE}: add someone who isn't on chat, to hear about the "
        "meetings by e-mail (or text and their mobile number), once they have agreed\n"
        "• /qi-forum members: who is in the forum and how each hears from it\n"
        f"• {outside_members.REMOVE_EXAMPLE}: take someone who isn't on chat off the forum "
        '(add --forum "Name" to any of these when there are several forums)',
    ),
    "stats": (
        "/qi-stats",
        "How many active projects have a service user or carer on the team, week by week, as "
        "a run chart: the way QI teams tell real change from the usual ups and downs.\n"
        "• /qi-stats: all projects\n• /qi-stats Riverside Hospital: one site's projects, "
        "the same ones /qi-projects Riverside Hospital lists\n"
        "• /qi-stats forum: who comes to the forum's meetings\n"
        "• /qi-stats involvement: how involved service users and carers feel (organisers; "
        "a lead: /qi-stats involvement mine)\n"
        'Organisers can mark a change on the chart: /qi-stats note {past_long_day} "Forum '
        'relaunched"\n'
        "• /qi-stats notes: the notes on the chart, with their numbers\n"
        '• /qi-stats note edit 3 {past_long_day} "Forum relaunched": change note 3; '
        f"{stats.EXAMPLE_DELETE_NOTE}: take it off",
    ),
    "help": ("/qi-help", "This help. /qi-help join shows help for one command."),
}


def handle_help_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """All commands, or one command's help with `/qi-help <command>`."""
    topic = name_key(text).removeprefix("qi ").replace("qi-", "").strip()
    # "/qi-help join forum": the help on joining, which covers the forum.
    first = topic.split(" ", 1)[0]
    if topic not in TOPICS and first in TOPICS:
        topic = first
    if topic in TOPICS:
        heading, body = TOPICS[topic]
        return Reply(sections=(Section(heading=heading, text=_dated(body, ctx)),))
    if topic:
        return unknown_topic(text)
    sections = [Section(heading="How qi-nudge works", text=INTRO)]
    sections += [
        Section(heading=heading, text=_dated(body, ctx)) for heading, body in TOPICS.values()
    ]
    return Reply(sections=tuple(sections))


def _dated(body: str, ctx: Context) -> str:
    """Fill in example days worked out from today, so help never shows a meeting gone by."""
    past = example_past_day(ctx)
    return (
        body.replace("{meeting_day}", long_date(example_meeting_day(ctx)))
        .replace("{past_long_day}", long_date(past))
        .replace("{past_day}", day_first(past))
    )


# How much of an unknown topic is repeated back: enough to recognise, never a wall of text.
TOPIC_ECHO_MAX = 60


def unknown_topic(text: str) -> Reply:
    """Kindly: no help on that, and the topics there are."""
    topics = ", ".join(TOPICS)
    return refuse(
        f'I don\'t have help on "{clip(" ".join(text.split()), TOPIC_ECHO_MAX)}". '
        f"The topics are: {topics}. For example: /qi-help join. "
        "Type /qi-help on its own to see everything."
    )
