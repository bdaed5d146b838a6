"""The audit trail: who changed what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from store.models import AuditEvent

_INSERT = insert(AuditEvent.__table__)  # Core, not ORM: no unit-of-work machinery


def record(
    session: Session,
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    **detail: Any,
) -> None:
    """Add one audit event; `detail` holds ids and codes, never names."""
    # A plain INSERT rather than an ORM object: audit rows are written on every change, and the
    # unit-of-work flush costs more than the statement (measured in bench/slack_ack.py).
    session.connection().execute(
        _INSERT,
        {
            "at": at,
            "actor_person_id": actor_id,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "detail": detail,
        },
    )


def record_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Add many audit events in one batched statement (imports), each as `record` takes it."""
    if not events:
        return
    session.execute(
        _INSERT,
        [
            {
                "at": event.pop("at"),
                "actor_person_id": event.pop("actor_id"),
                "action": event.pop("action"),
                "subject_type": event.pop("subject_type"),
                "subject_id": event.pop("subject_id"),
                "detail": event,
            }
            for event in (dict(e) for e in events)
        ],
    )
