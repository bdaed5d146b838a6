"""What erasure keeps: keyed digests of erased people's addresses, so imports don't revive them.

A digest is HMAC-SHA256, under a random key made at the first erasure and kept in the
database, of "email:" and the SHA-256 of an e-mail address (the form chat identities already
hold), or of "name:" and a folded name for a lead known by name only. Without the key, a
digest cannot be tested against a guessed address; the key lives beside them so that every
replica and every shell finds the same one with no setting to lose (see the README's privacy
section for the trade-off).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ErasedAddress, ErasureKey
from store.names import clean_name
from store.upsert import insert_for

_KEY_ROW = 1


def _key(session: Session) -> bytes:
    """The digests' key, made (once, whoever gets there first) if there is none yet."""
    found = session.scalar(select(ErasureKey.key).where(ErasureKey.id == _KEY_ROW))
    if found is None:
        session.execute(
            insert_for(session, ErasureKey.__table__)
            .values(id=_KEY_ROW, key=secrets.token_hex(32))
            .on_conflict_do_nothing(index_elements=["id"])
        )
        found = session.scalar(select(ErasureKey.key).where(ErasureKey.id == _KEY_ROW))
    assert found is not None
    return bytes.fromhex(found)


def _mark(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _name_form(name: str) -> str:
    return clean_name(name).lower()


def remember_erased(
    session: Session, *, email_sha256s: Iterable[str] = (), names: Iterable[str] = ()
) -> int:
    """Keep the keyed digests of an erased person's addresses; how many were new."""
    key = _key(session)
    marks = {_mark(key, "email", digest) for digest in email_sha256s if digest}
    marks |= {_mark(key, "name", _name_form(name)) for name in names if _name_form(name)}
    added = 0
    for mark in sorted(marks):
        added += session.execute(
            insert_for(session, ErasedAddress.__table__)
            .values(digest=mark)
            .on_conflict_do_nothing(index_elements=["digest"])
        ).rowcount
    return added


def _kept(session: Session, marks: Iterable[str]) -> set[str]:
    """Of `marks`, the ones kept for someone erased."""
    wanted = sorted(set(marks))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            session.scalars(select(ErasedAddress.digest).where(ErasedAddress.digest.in_(chunk)))
        )
    return found


def erased_among(
    session: Session, *, email_sha256s: Iterable[str] = (), names: Iterable[str] = ()
) -> tuple[set[str], set[str]]:
    """Which of these address digests (SHA-256 of an e-mail) and names are of someone erased."""
    if session.scalar(select(ErasedAddress.id).limit(1)) is None:
        return set(), set()  # the usual case: nobody erased, and no key to make
    key = _key(session)
    emails = {digest: _mark(key, "email", digest) for digest in email_sha256s if digest}
    named = {name: _mark(key, "name", _name_form(name)) for name in names if _name_form(name)}
    kept = _kept(session, [*emails.values(), *named.values()])
    return (
        {digest for digest, mark in emails.items() if mark in kept},
        {name for name, mark in named.items() if mark in kept},
    )
