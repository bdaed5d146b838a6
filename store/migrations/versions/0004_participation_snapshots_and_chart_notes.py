"""participation snapshots, chart notes and project start dates: the run chart's data

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('participation_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=30), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('scope', sa.String(length=210), nullable=False),
    sa.Column('active_projects', sa.Integer(), nullable=False),
    sa.Column('involved_projects', sa.Integer(), nullable=False),
    sa.Column('attendance', sa.JSON(), nullable=True),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('backfilled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participation_snapshots')),
    sa.UniqueConstraint('week', 'scope', name=op.f('uq_participation_snapshots_week'))
    )
    op.create_table('chart_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_chart_notes_created_by_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chart_notes'))
    )
    with op.batch_alter_table('chart_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chart_notes_on_date'), ['on_date'], unique=False)

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('started_on')

    with op.batch_alter_table('chart_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chart_notes_on_date'))

    op.drop_table('chart_notes')
    op.drop_table('participation_snapshots')
