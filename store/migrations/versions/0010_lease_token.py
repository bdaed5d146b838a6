"""The scheduler lease's per-process token: replicas' names can repeat

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduler_leases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scheduler_leases', schema=None) as batch_op:
        batch_op.drop_column('token')
