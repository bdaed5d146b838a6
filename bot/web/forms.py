"""Reading a posted form: small, URL-encoded, one value per field."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from bot.runtime.http import read_body

# The sign-up form, filled to every field's limit, is under 3 KB; nothing we serve takes more.
FORM_MAX = 8 * 1024
FIELDS_MAX = 20


class TooLarge(Exception):
    """The form was larger than any of ours can be."""


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each); TooLarge past FORM_MAX bytes."""
    body = await read_body(request, FORM_MAX)
    if body is None:
        raise TooLarge
    try:
        pairs = parse_qsl(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=FIELDS_MAX,
        )
    except ValueError:
        raise TooLarge from None
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values
