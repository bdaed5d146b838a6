"""The web pages on a Starlette app of their own, and a carer reached by e-mail to open them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.outside.links import Links
from bot.web.routes import web_routes
from store.models import AuditEvent, Rsvp
from store.roles import Role
from tests.handlers import given

PUBLIC_URL = "https://qi.example.nhs.uk"
SECRET = "a-test-secret-that-is-long-enough-for-links"


@dataclass
class Site:
    """The pages, the links that open them, and who they are for."""

    client: TestClient
    links: Links
    app: Starlette
    forum: int
    meeting: int
    carer: int
    starts_at: datetime
    answered: list[int] = field(default_factory=list)

    def path(self, url: str) -> str:
        """A link from a message, as a path on the test server."""
        assert url.startswith(PUBLIC_URL)
        return url.removeprefix(PUBLIC_URL)

    def answer_path(self, answer: str = "going", *, person: int | None = None) -> str:
        url = self.links.answer(person or self.carer, self.meeting, self.starts_at, answer)
        return self.path(url)


def rsvps(sessions) -> list[tuple[int, int, str, Role | None]]:
    """Every RSVP: (meeting, person, answer, role)."""
    with sessions() as session:
        rows = session.execute(
            select(Rsvp.meeting_id, Rsvp.person_id, Rsvp.answer, Rsvp.role).order_by(Rsvp.id)
        )
        return [(m, p, a.value, r) for m, p, a, r in rows]


def audit_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def carer_by_email(sessions, now, forum: int, *, name: str = "Dana Carer") -> int:
    """A carer on the forum, not on chat, reached by e-mail (consent recorded, confirmed)."""
    address = f"{name.split()[0].lower()}@example.org"
    return given.outside_member(sessions, forum, name, now, address=address)


def build_app(ctx, links: Links, answered: list[int]) -> Starlette:
    return Starlette(routes=web_routes(ctx, links, answered=answered.append))


@pytest.fixture
def site(ctx) -> Site:
    now = ctx.now()
    forum = given.forum(ctx.sessions, now, "Carers QI Forum")
    meeting = given.meeting(ctx, forum, now + timedelta(days=3), "Room 4, Trust HQ")
    carer = carer_by_email(ctx.sessions, now, forum)
    links = Links(PUBLIC_URL, SECRET, clock=ctx.clock)
    answered: list[int] = []
    app = build_app(ctx, links, answered)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    return Site(client, links, app, forum, meeting, carer, now + timedelta(days=3), answered)
