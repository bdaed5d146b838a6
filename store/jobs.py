"""Bookkeeping for scheduled jobs: which occurrences ran, so a restart neither skips nor repeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import JobRun
from store.upsert import insert_for


def find_run(session: Session, job: str, occurrence: str) -> JobRun | None:
    """The record of one occurrence of a job, if it was started."""
    return session.scalar(select(JobRun).where(JobRun.job == job, JobRun.occurrence == occurrence))


def start_run(session: Session, job: str, occurrence: str, *, now: datetime) -> None:
    """Record that an occurrence has started (again, after a crash, changes nothing)."""
    session.connection().execute(
        insert_for(session, JobRun.__table__).on_conflict_do_nothing(
            index_elements=["job", "occurrence"]
        ),
        {"job": job, "occurrence": occurrence, "started_at": now},
    )


def finish_run(session: Session, job: str, occurrence: str, *, now: datetime) -> None:
    """Record that an occurrence finished."""
    run = find_run(session, job, occurrence)
    if run is not None and run.finished_at is None:
        run.finished_at = now
