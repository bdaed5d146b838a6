"""Every response of the pages carries the security headers; the pages are valid and plain."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import update
from starlette.testclient import TestClient

from bot.outside.links import Links
from store.models import Forum
from tests.bot.web.conftest import SECRET, build_app

EXPECTED = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


class Page(HTMLParser):
    """What an accessibility check looks at: lang, title, h1s, inputs and labels, scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = None
        self.tags: list[str] = []
        self.h1 = 0
        self.inputs: list[str] = []
        self.labels: set[str] = set()
        self.in_title = False
        self.title = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = found.get("lang")
        if tag == "h1":
            self.h1 += 1
        if tag == "input":
            self.inputs.append(found.get("id", ""))
        if tag == "label":
            self.labels.add(found.get("for", ""))
        self.in_title = tag == "title"

    def handle_endtag(self, tag):
        self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def every_page(site, sessions) -> dict[str, object]:
    with sessions.begin() as session:
        session.execute(update(Forum).where(Forum.id == site.forum).values(public_signup=True))
    stop = site.path(site.links.stop(site.carer))
    confirm = site.path(site.links.confirm(site.carer))
    get = site.client.get
    return {
        "answer": get(site.answer_path()),
        "answered": site.client.post(site.answer_path(), data={"choice": "going"}),
        "stop": get(stop),
        "confirm": get(confirm),
        "join": get("/join/carers qi forum"),
        "join errors": site.client.post("/join/carers qi forum", data={"name": ""}),
        "bad link": get("/answer/forged"),
        "calendar": get(site.path(site.links.forum_calendar(site.forum))),
        "style": get("/static/pages.css"),
        "stopped": site.client.post(stop),
    }


def test_every_response_carries_the_security_headers(site, sessions):
    for name, response in every_page(site, sessions).items():
        for header, value in EXPECTED.items():
            if name == "style" and header == "cache-control":
                continue  # the style sheet may be cached: it is the same for everyone
            assert response.headers[header] == value, (name, header)
        assert "camera=()" in response.headers["permissions-policy"]
        assert response.headers["strict-transport-security"].startswith("max-age="), name


def test_no_hsts_when_people_reach_the_pages_over_plain_http(ctx):
    app = build_app(ctx, Links("http://localhost:3000", SECRET, clock=ctx.clock), [])

    got = TestClient(app).get("/answer/forged")

    assert "strict-transport-security" not in got.headers
    assert got.headers["referrer-policy"] == "no-referrer"


def test_every_page_has_a_language_a_title_one_heading_labels_and_no_script(site, sessions):
    for name, response in every_page(site, sessions).items():
        if name in ("calendar", "style"):
            continue
        page = Page(response.text)
        assert page.lang == "en-GB", name
        assert page.title.strip().endswith("QI forum"), name
        assert page.h1 == 1, name
        assert "script" not in page.tags, name
        assert set(page.inputs) <= page.labels, name
        assert 'href="../static/pages.css"' in response.text, name


def test_the_style_sheet_is_ours_and_small(site):
    got = site.client.get("/static/pages.css")

    assert got.status_code == 200 and got.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in got.text
    assert len(got.content) < 8000
    assert "url(" not in got.text  # no fonts or pictures fetched from anywhere
