"""The fake GOV.UK Notify, checked with Notify's own Python client over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from tests.fakes.notify_api import (
    CLOCK_ERROR,
    EMAIL_TEMPLATE_ID,
    SECRET,
    SERVICE_ID,
    TEXT_TEMPLATE_ID,
    FakeNotify,
    api_key,
)

OTHER_SECRET = "00000000-1111-4222-8333-444444444444"


@pytest.fixture
def fake() -> Iterator[FakeNotify]:
    with FakeNotify() as running:
        yield running


def client(fake: FakeNotify, key: str | None = None, timeout: float = 5) -> NotificationsAPIClient:
    return NotificationsAPIClient(key or fake.api_key, base_url=fake.root_url, timeout=timeout)


def refused(call) -> tuple[int, list[dict[str, str]]]:
    """The status and Notify's error list of a call that must fail."""
    with pytest.raises(HTTPError) as caught:
        call()
    return caught.value.status_code, caught.value.response.json()["errors"]


def test_an_email_and_a_text_are_sent_from_their_templates_and_found_by_reference(fake):
    notify = client(fake)
    email = notify.send_email_notification(
        "carer@example.org",
        EMAIL_TEMPLATE_ID,
        personalisation={"subject": "Forum on Thursday", "body": "Hello"},
        reference="qi-nudge-delivery-1",
    )
    text = notify.send_sms_notification(
        "07700 900123", TEXT_TEMPLATE_ID, personalisation={"body": "Hi"}, reference="r-2"
    )

    assert email["content"] == {
        "body": "Hello",
        "subject": "Forum on Thursday",
        "from_email": "qi.forum@notifications.service.gov.uk",
    }
    assert text["reference"] == "r-2"
    assert [(n.type, n.to, n.body) for n in fake.sent()] == [
        ("email", "carer@example.org", "Hello"),
        ("sms", "07700 900123", "Hi"),
    ]
    found = notify.get_all_notifications(reference="qi-nudge-delivery-1")["notifications"]
    assert [n["id"] for n in found] == [email["id"]]
    assert notify.get_all_notifications(reference="nothing")["notifications"] == []
    assert notify.get_notification_by_id(text["id"])["phone_number"] == "07700 900123"


def test_a_key_with_the_wrong_secret_or_service_is_refused_as_notify_refuses_it(fake):
    def send(key):
        return lambda: client(fake, key).send_sms_notification(
            "07700900123", TEXT_TEMPLATE_ID, personalisation={"body": "Hi"}
        )

    assert refused(send(api_key(SERVICE_ID, OTHER_SECRET))) == (
        403,
        [{"error": "AuthError", "message": "Invalid token: API key not found"}],
    )
    assert refused(send(api_key(OTHER_SECRET, SECRET)))[0] == 403
    assert fake.sent() == []


def test_a_token_more_than_30_seconds_off_the_clock_is_refused():
    with FakeNotify(clock=lambda: time.time() + 31) as fake:
        status, errors = refused(lambda: client(fake).get_all_notifications())
        assert (status, errors[0]["message"]) == (403, CLOCK_ERROR)
    with FakeNotify(clock=lambda: time.time() + 25) as fake:
        assert client(fake).get_all_notifications()["notifications"] == []


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_signed_another_way_or_missing_is_refused(fake):
    url = f"{fake.root_url}/v2/notifications"
    assert requests.get(url, timeout=5).status_code == 401
    other = jwt.encode({"iss": SERVICE_ID, "iat": int(time.time())}, SECRET, algorithm="HS512")
    answer = requests.get(url, headers={"Authorization": f"Bearer {other}"}, timeout=5)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["message"] == "Invalid token: algorithm used is not HS256"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("01632 960001", "phone_number Not a UK mobile number"),
        ("07700 9001", "phone_number Not enough digits"),
        ("call me", "phone_number Mobile numbers can only include: 0 1 2 3 4 5 6 7 8 9 ( ) + -"),
    ],
)
def test_numbers_notify_would_not_text_are_refused(fake, number, message):
    status, errors = refused(
        lambda: client(fake).send_sms_notification(
            number, TEXT_TEMPLATE_ID, personalisation={"body": "Hi"}
        )
    )
    assert (status, errors) == (400, [{"error": "ValidationError", "message": message}])
    assert fake.sent() == []


def test_sends_notify_would_refuse_are_refused(fake):
    notify = client(fake)

    def email(address="a@example.org", template=EMAIL_TEMPLATE_ID, **values):
        return lambda: notify.send_email_notification(address, template, personalisation=values)

    assert refused(email("not an address", subject="s", body="b"))[1][0]["message"] == (
        "email_address Not a valid email address"
    )
    assert refused(email(subject="s"))[1] == [
        {"error": "BadRequestError", "message": "Missing personalisation: body"}
    ]
    assert refused(email(subject="s", body=3))[1][0]["error"] == "ValidationError"
    assert refused(email(template=TEXT_TEMPLATE_ID, body="b"))[1][0]["message"] == (
        "sms template is not suitable for email notification"
    )
    assert (
        refused(email(template="3f1e7a2b-0000-4000-8000-000000000000", body="b"))[1][0]["message"]
        == "Template not found"
    )
    too_long = lambda: notify.send_sms_notification(  # noqa: E731
        "07700900123", TEXT_TEMPLATE_ID, personalisation={"body": "x" * 918 + "😀"}
    )
    assert refused(too_long)[1][0]["message"] == (
        "Text messages cannot be longer than 918 characters. Your message is 920 characters long."
    )
    assert fake.sent() == []


def test_it_answers_429_or_5xx_for_the_next_requests_then_works(fake):
    fake.fail(429, times=2)
    fake.fail(500)
    notify = client(fake)

    def send():
        return notify.send_sms_notification(
            "07700900123", TEXT_TEMPLATE_ID, personalisation={"body": "Hi"}
        )

    assert refused(send)[1][0]["error"] == "RateLimitError"
    assert refused(send)[0] == 429
    assert refused(send)[1] == [{"error": "Exception", "message": "Internal server error"}]
    send()
    assert len(fake.sent()) == 1


def test_a_hang_after_acting_leaves_the_caller_without_an_answer_but_the_text_sent(fake):
    fake.hang(2, after_acting=True)
    with pytest.raises(HTTPError) as caught:
        client(fake, timeout=0.3).send_sms_notification(
            "07700900123", TEXT_TEMPLATE_ID, personalisation={"body": "Hi"}, reference="r"
        )
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert [n.reference for n in fake.sent()] == ["r"]
