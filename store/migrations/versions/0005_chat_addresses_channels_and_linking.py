"""Teams: chat addresses and channels, longer conversation ids, cross-platform linking

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('chat_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('workspace', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('dm_channel', sa.String(length=400), nullable=True),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_addresses')),
    sa.UniqueConstraint('platform', 'workspace', 'user_id', name=op.f('uq_chat_addresses_platform'))
    )
    op.create_table('chat_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('workspace', sa.String(length=100), nullable=False),
    sa.Column('channel_id', sa.String(length=400), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_channels')),
    sa.UniqueConstraint('platform', 'workspace', 'channel_id', name=op.f('uq_chat_channels_platform'))
    )
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_active_on', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_chat_identities_email_sha256'), ['email_sha256'], unique=False)

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('post_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('channel_id',
               existing_type=sa.VARCHAR(length=100),
               type_=sa.String(length=400),
               existing_nullable=True)
        batch_op.alter_column('message_ts',
               existing_type=sa.VARCHAR(length=40),
               type_=sa.String(length=100),
               existing_nullable=True)



def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('message_ts',
               existing_type=sa.String(length=100),
               type_=sa.VARCHAR(length=40),
               existing_nullable=True)
        batch_op.alter_column('channel_id',
               existing_type=sa.String(length=400),
               type_=sa.VARCHAR(length=100),
               existing_nullable=True)
        batch_op.drop_column('post_started_at')

    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_identities_email_sha256'))
        batch_op.drop_column('last_active_on')
        batch_op.drop_column('email_sha256')

    op.drop_table('chat_channels')
    op.drop_table('chat_addresses')
