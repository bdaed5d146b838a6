"""People outside chat: outside_contacts, meetings.sequence and forums.public_signup

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outside_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('consent_recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('consent_recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['consent_recorded_by_id'], ['people.id'],
            name=op.f('fk_outside_contacts_consent_recorded_by_id_people'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'],
            name=op.f('fk_outside_contacts_person_id_people'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outside_contacts')),
        sa.UniqueConstraint('person_id', name=op.f('uq_outside_contacts_person_id')),
    )
    with op.batch_alter_table('outside_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outside_contacts_address'), ['address'], unique=False)
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('sequence', sa.Integer(), server_default=sa.text('0'), nullable=False)
        )
    with op.batch_alter_table('forums', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'public_signup', sa.Boolean(), server_default=sa.text('false'), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('forums', schema=None) as batch_op:
        batch_op.drop_column('public_signup')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('sequence')
    with op.batch_alter_table('outside_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outside_contacts_address'))
    op.drop_table('outside_contacts')
