"""Sites found by their folded name, one spelling each: projects.site_key and its index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
from collections import Counter, defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.names import site_key

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('projects', sa.Column('site_key', sa.String(length=200), nullable=True))
    op.create_index(
        'ix_projects_site', 'projects', ['site_key', 'status', 'name_key', 'id'], unique=False
    )
    spelling = _key_and_unify_sites()
    _merge_site_figures(spelling)


def _key_and_unify_sites() -> dict[str, str]:
    """Key every project's site, and give each site its most used spelling; key -> spelling."""
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, site FROM projects WHERE site IS NOT NULL')).all()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _id, site in rows:
        key = site_key(site)
        if key is not None:
            counts[key][site] += 1
    # The most used spelling; among equals, the first in code point order.
    spelling = {
        key: min(seen, key=lambda s: (-seen[s], s)) for key, seen in counts.items()
    }
    updates = [
        {'id': project_id, 'site_key': key, 'site': spelling[key] if key else None}
        for project_id, site in rows
        for key in [site_key(site)]
    ]
    statement = sa.text('UPDATE projects SET site_key = :site_key, site = :site WHERE id = :id')
    for start in range(0, len(updates), 1000):
        bind.execute(statement, updates[start : start + 1000])
    return spelling


def _merge_site_figures(spelling: dict[str, str]) -> None:
    """Weekly figures kept under two spellings of one site become one site's, added up."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            'SELECT id, week, week_start, scope, active_projects, involved_projects, taken_at, '
            "backfilled FROM participation_snapshots WHERE scope LIKE 'site:%'"
        )
    ).all()
    groups: dict[tuple[str, str], list[sa.Row]] = defaultdict(list)
    for row in rows:
        name = row.scope[len('site:'):]
        key = site_key(name)
        groups[(row.week, f'site:{spelling.get(key, name) if key else name}')].append(row)
    for (_week, scope), same in groups.items():
        if len(same) == 1 and same[0].scope == scope:
            continue
        keep, *others = same
        # The others first: the one kept may take the scope one of them has.
        if others:
            bind.execute(
                sa.text('DELETE FROM participation_snapshots WHERE id IN :ids').bindparams(
                    sa.bindparam('ids', expanding=True)
                ),
                {'ids': [r.id for r in others]},
            )
        bind.execute(
            sa.text(
                'UPDATE participation_snapshots SET scope = :scope, active_projects = :active, '
                'involved_projects = :involved, taken_at = :taken, backfilled = :backfilled '
                'WHERE id = :id'
            ).bindparams(sa.bindparam('backfilled', type_=sa.Boolean())),
            {
                'id': keep.id,
                'scope': scope,
                'active': sum(r.active_projects for r in same),
                'involved': sum(r.involved_projects for r in same),
                'taken': max(r.taken_at for r in same),
                'backfilled': any(bool(r.backfilled) for r in same),
            },
        )


def downgrade() -> None:
    """Drop the key and its index. One way for the data: sites keep the spelling they were
    given, and weekly figures merged across spellings stay merged."""
    op.drop_index('ix_projects_site', table_name='projects')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('site_key')
