"""How involved people feel: involvement_answers, and people.involvement_questions_muted_at

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'involvement_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('membership_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=30), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('answer', sa.String(length=20), nullable=True),
        sa.Column('comment', sa.String(length=500), nullable=True),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['membership_id'], ['memberships.id'],
            name=op.f('fk_involvement_answers_membership_id_memberships'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_involvement_answers_person_id_people'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['project_id'], ['projects.id'],
            name=op.f('fk_involvement_answers_project_id_projects'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['recorded_by_id'], ['people.id'],
            name=op.f('fk_involvement_answers_recorded_by_id_people'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_involvement_answers')),
        sa.UniqueConstraint(
            'membership_id', 'period', name=op.f('uq_involvement_answers_membership_id')
        ),
        sa.UniqueConstraint(
            'person_id', 'project_id', 'period', name=op.f('uq_involvement_answers_person_id')
        ),
    )
    with op.batch_alter_table('involvement_answers', schema=None) as batch_op:
        for column in ('membership_id', 'person_id', 'project_id', 'period'):
            batch_op.create_index(
                batch_op.f(f'ix_involvement_answers_{column}'), [column], unique=False
            )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('involvement_questions_muted_at', sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('involvement_questions_muted_at')
    with op.batch_alter_table('involvement_answers', schema=None) as batch_op:
        for column in ('period', 'project_id', 'person_id', 'membership_id'):
            batch_op.drop_index(batch_op.f(f'ix_involvement_answers_{column}'))
    op.drop_table('involvement_answers')
