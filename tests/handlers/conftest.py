"""Fixtures shared by the handler tests."""

import pytest

from store import outbox
from tests.handlers import given


@pytest.fixture
def dm(sessions, clock):
    """The outbox recipient key of a person's direct messages."""
    return lambda actor: outbox.person_recipient(given.person_id(sessions, actor, clock()))
