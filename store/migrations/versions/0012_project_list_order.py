"""The list of active projects in name order: an index, so a page reads only its own rows

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_projects_listed', 'projects', ['status', 'name_key', 'id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_projects_listed', table_name='projects')
