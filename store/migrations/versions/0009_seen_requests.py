"""Chat requests already acted on, so that a replayed copy is answered without acting

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'seen_requests',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_seen_requests')),
    )
    with op.batch_alter_table('seen_requests', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_seen_requests_expires_at'), ['expires_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('seen_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_requests_expires_at'))
    op.drop_table('seen_requests')
