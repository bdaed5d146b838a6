"""match offers: forum members who want a project, introduced to leads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('match_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('staff', 'service_user', 'carer', 'peer_supporter', 'other', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('week', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_match_offers_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_match_offers_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_offers')),
    sa.UniqueConstraint('project_id', 'person_id', name=op.f('uq_match_offers_project_id'))
    )
    with op.batch_alter_table('match_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_offers_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('match_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_offers_person_id'))

    op.drop_table('match_offers')
