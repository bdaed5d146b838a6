"""What a Teams activity must look like before the SDK and our handlers read it.

A valid token proves the Bot Framework sent a request, not that the activity in it is whole.
The SDK parses activities with its own models only after it has taken the request, and a
failure there is a 500 whose log line holds the offending values. Parsed here first with those
same models (so the SDK's own parse cannot fail afterwards), plus the ids our handlers and
the replay check use, a malformed activity is a 400 with a reason of a few words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from microsoft_teams.api.activities import ActivityTypeAdapter
from microsoft_teams.apps.events.types import CoreActivity
from pydantic import ValidationError

# Activities that are about someone in a conversation, and must say who and where.
ABOUT_SOMEONE = ("from", "conversation", "recipient")
WHERE_DEPTH = 3  # model field names only: deeper parts of a path can be keys someone chose


def activity_problem(body: Mapping[str, Any]) -> str | None:
    """Why this activity is not one the SDK and qi-nudge can read, or None if it is."""
    try:
        core = CoreActivity.model_validate(body)
        ActivityTypeAdapter.validate_python(core.model_dump(by_alias=True, exclude_none=True))
    except ValidationError as error:
        first = error.errors()[0]
        return f"{_where(first['loc'])}: {first['type']}"
    except (TypeError, ValueError, RecursionError) as error:
        return f"unreadable ({type(error).__name__})"
    kind = body["type"]
    if not body.get("id"):
        return f"{kind}: no id"
    for name in ABOUT_SOMEONE:
        part = body.get(name)
        if not (isinstance(part, Mapping) and part.get("id")):
            return f"{kind}: {name} has no id"
    return None


def _where(loc: tuple[int | str, ...]) -> str:
    """A validation error's place, as the models name it (never a value, nor a key sent)."""
    names: list[str] = []
    for part in loc[:WHERE_DEPTH]:
        if not isinstance(part, str):
            break
        names.append(part)
    return ".".join(names) or "activity"
