"""/qi-stats and the organisers' App Home on Slack: the headline, and the run chart uploaded."""

from handlers.core.context import Context
from handlers.evidence.stats import backfill, take_snapshot
from store.engine import make_sessions
from store.people import grant_admin
from tests.bot.slack.conftest import BOT_TOKEN
from tests.bot.slack.test_slack_http import LEAD, command, start_project, visible_text
from tests.fakes import event_body

CHANNEL = "C123"  # where slash_command_body says the command was typed


def with_figures(bot, clock):
    """Two weeks of figures: last week worked out from history, this week's taken now."""
    ctx = Context(sessions=make_sessions(bot.engine), clock=clock)
    clock.advance(days=-7)
    start_project(bot, bot.fake)
    clock.advance(days=7)
    backfill(ctx)
    take_snapshot(ctx)
    return ctx


def test_stats_answers_at_once_and_posts_the_chart_with_its_alt_text(slack_bot, fake_slack, clock):
    slack_bot.fake = fake_slack
    fake_slack.add_channel(CHANNEL, "qi-team", bot_member=True)
    with_figures(slack_bot, clock)

    answer = command(slack_bot, fake_slack, LEAD, "/qi-stats", "")
    slack_bot.settle()

    assert answer.status_code == 200
    assert "0 of 1 active project has a service user or carer on the team" in visible_text(
        answer.json()["blocks"]
    )
    (upload,) = fake_slack.uploads
    assert upload.channel_id == CHANNEL
    assert upload.content.startswith(b"\x89PNG")
    assert upload.title.startswith("Share of active projects with a service user or carer")
    # The title is shown beside the picture: the alt text does not read it out again.
    assert upload.alt_txt.startswith("Run chart, one week so far, ")
    assert "Share of active projects" not in upload.alt_txt


def test_an_organisers_app_home_shows_the_chart_uploaded_once(slack_bot, fake_slack, clock):
    slack_bot.fake = fake_slack
    ctx = with_figures(slack_bot, clock)
    with ctx.sessions.begin() as session:
        grant_admin(session, 1, by_id=None, now=ctx.now())  # Asha, the first person recorded
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D1", "tab": "home"}

    slack_bot.post(event_body(event, event_id="Ev1"), json_body=True)
    slack_bot.settle()
    slack_bot.post(event_body(event, event_id="Ev2"), json_body=True)
    slack_bot.settle()

    home = fake_slack.home(LEAD)
    (image,) = [b for b in home["blocks"] if b["type"] == "image"]
    (upload,) = fake_slack.uploads  # the second opening reused it
    assert image["slack_file"] == {"id": upload.file_id}
    assert image["alt_text"] == upload.alt_txt
    assert upload.channel_id is None  # not shared in any channel
    assert "Lived experience on QI teams" in visible_text(home["blocks"])


def test_a_home_chart_that_cannot_be_uploaded_leaves_the_words(slack_bot, fake_slack, clock):
    slack_bot.fake = fake_slack
    ctx = with_figures(slack_bot, clock)
    with ctx.sessions.begin() as session:
        grant_admin(session, 1, by_id=None, now=ctx.now())
    # An app installed before it asked for files:write: Slack refuses the upload.
    fake_slack.add_token(BOT_TOKEN, scopes=[s for s in fake_slack.bot_scopes if s != "files:write"])
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D1", "tab": "home"}

    slack_bot.post(event_body(event, event_id="Ev1"), json_body=True)
    slack_bot.settle()

    home = fake_slack.home(LEAD)
    assert [b for b in home["blocks"] if b["type"] == "image"] == []
    assert "The chart shows 1 weekly figure, up to the week of " in visible_text(home["blocks"])


def test_opening_app_home_again_does_not_redraw_the_same_chart(
    slack_bot, fake_slack, clock, monkeypatch
):
    import handlers.evidence.chart_drawing

    slack_bot.fake = fake_slack
    ctx = with_figures(slack_bot, clock)
    with ctx.sessions.begin() as session:
        grant_admin(session, 1, by_id=None, now=ctx.now())
    drawn = []
    real_render = handlers.evidence.chart_drawing.render_png
    monkeypatch.setattr(
        handlers.evidence.chart_drawing,
        "render_png",
        lambda figure, **size: drawn.append(1) or real_render(figure, **size),
    )
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D1", "tab": "home"}

    for event_id in ("Ev1", "Ev2", "Ev3"):
        slack_bot.post(event_body(event, event_id=event_id), json_body=True)
        slack_bot.settle()

    assert len(drawn) == 1  # drawn for the one upload; the same figures are recognised after
    assert len(fake_slack.uploads) == 1


def test_the_same_figures_asked_for_twice_are_drawn_once_and_uploaded_once(
    slack_bot, fake_slack, clock, monkeypatch
):
    import handlers.evidence.chart_drawing

    slack_bot.fake = fake_slack
    fake_slack.add_channel(CHANNEL, "qi-team", bot_member=True)
    with_figures(slack_bot, clock)
    drawn = []
    real_render = handlers.evidence.chart_drawing.render_png
    monkeypatch.setattr(
        handlers.evidence.chart_drawing,
        "render_png",
        lambda figure, **size: drawn.append(1) or real_render(figure, **size),
    )

    for _ in range(2):
        command(slack_bot, fake_slack, LEAD, "/qi-stats", "")
        slack_bot.settle()

    assert len(drawn) == 1
    # Uploaded once; the second time the same picture is posted by reference, in one call.
    (upload,) = fake_slack.uploads
    assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 1
    (post,) = fake_slack.calls_to("chat.postMessage")
    (block,) = post.json_arg("blocks")
    assert block["type"] == "image"
    assert block["slack_file"] == {"id": upload.file_id}
    assert block["alt_text"] == upload.alt_txt
    assert post.args["channel"] == CHANNEL


def test_when_too_busy_to_post_the_chart_the_person_is_told_what_it_shows(
    slack_bot, fake_slack, clock
):
    from bot.slack.worker import AfterAck

    slack_bot.fake = fake_slack
    fake_slack.add_channel(CHANNEL, "qi-team", bot_member=True)
    with_figures(slack_bot, clock)
    # As under a flood: no room for a chart, room only for what a person is owed.
    slack_bot.service.transport.after = AfterAck(limit=0, essential_room=1)

    answer = command(slack_bot, fake_slack, LEAD, "/qi-stats", "")
    slack_bot.service.transport.after.drain()

    assert answer.status_code == 200
    assert fake_slack.uploads == []
    (told,) = [payload for _key, payload in fake_slack.responses]
    assert told["text"].startswith("Sorry, I'm too busy to post the chart just now")
    assert "What it shows: Run chart, one week so far" in told["text"]
