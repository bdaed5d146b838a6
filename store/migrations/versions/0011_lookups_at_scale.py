"""Lookups at trust scale: words of project names and sites, and people's current memberships

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.names import name_key

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORD = sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'project_words',
        sa.Column('word', WORD, nullable=False),
        sa.Column('in_site', sa.Boolean(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['project_id'], ['projects.id'],
            name=op.f('fk_project_words_project_id_projects'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('word', 'in_site', 'project_id', name=op.f('pk_project_words')),
    )
    op.create_index(
        'ix_project_words_project_id_word', 'project_words', ['project_id', 'word'], unique=False
    )
    op.create_index(
        'ix_memberships_current_person', 'memberships', ['person_id', 'project_id'],
        unique=False,
        sqlite_where=sa.text('left_at IS NULL'),
        postgresql_where=sa.text('left_at IS NULL'),
    )
    _backfill_words()


def _backfill_words() -> None:
    """The words of every project there is, a thousand projects at a time."""
    bind = op.get_bind()
    words = sa.table(
        'project_words', sa.column('word'), sa.column('in_site'), sa.column('project_id')
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                'SELECT id, name_key, site FROM projects WHERE id > :last ORDER BY id LIMIT 1000'
            ),
            {'last': last},
        ).all()
        if not rows:
            return
        batch = []
        for project_id, key, site in rows:
            batch += [
                {'word': w, 'in_site': False, 'project_id': project_id}
                for w in dict.fromkeys(key.split())
            ]
            batch += [
                {'word': w, 'in_site': True, 'project_id': project_id}
                for w in dict.fromkeys(name_key(site or '').split())
            ]
        if batch:
            bind.execute(sa.insert(words), batch)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index('ix_memberships_current_person', table_name='memberships')
    op.drop_index('ix_project_words_project_id_word', table_name='project_words')
    op.drop_table('project_words')
