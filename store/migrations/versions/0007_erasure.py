"""Erasure that lasts: person numbers never reused, address digests, erased-address digests

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # AUTOINCREMENT can only be given when a table is made: rebuild people with it (the
        # migration runs with foreign keys off, so the rows that point at people stay).
        with op.batch_alter_table(
            'people', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ):
            pass
    with op.batch_alter_table('chat_addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_chat_addresses_email_sha256'), ['email_sha256'], unique=False
        )
    op.create_table(
        'erased_addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_addresses')),
        sa.UniqueConstraint('digest', name=op.f('uq_erased_addresses_digest')),
    )
    op.create_table(
        'erasure_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_key')),
    )


def downgrade() -> None:
    op.drop_table('erasure_key')
    op.drop_table('erased_addresses')
    with op.batch_alter_table('chat_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_addresses_email_sha256'))
        batch_op.drop_column('email_sha256')
    # people keeps AUTOINCREMENT: numbers already given out must still never come back.
