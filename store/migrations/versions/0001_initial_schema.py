"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('forums',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forums')),
    sa.UniqueConstraint('name_key', name=op.f('uq_forums_name_key'))
    )
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people'))
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_people_email'), ['email'], unique=False)

    op.create_table('admin_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['granted_by_id'], ['people.id'], name=op.f('fk_admin_grants_granted_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_admin_grants_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_grants'))
    )
    with op.batch_alter_table('admin_grants', schema=None) as batch_op:
        batch_op.create_index('uq_admin_grants_current', ['person_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_person_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_person_id'], ['people.id'], name=op.f('fk_audit_events_actor_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_actor_person_id'), ['actor_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('chat_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('workspace', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_chat_identities_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_identities')),
    sa.UniqueConstraint('platform', 'workspace', 'user_id', name=op.f('uq_chat_identities_platform'))
    )
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_identities_person_id'), ['person_id'], unique=False)

    op.create_table('forum_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('staff', 'service_user', 'carer', 'peer_supporter', 'other', name='role', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('wants_match', sa.Boolean(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['forum_id'], ['forums.id'], name=op.f('fk_forum_members_forum_id_forums'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_forum_members_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forum_members'))
    )
    with op.batch_alter_table('forum_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_forum_members_person_id'), ['person_id'], unique=False)
        batch_op.create_index('uq_forum_members_current', ['forum_id', 'person_id'], unique=True, sqlite_where=sa.text('left_at IS NULL'), postgresql_where=sa.text('left_at IS NULL'))

    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['forum_id'], ['forums.id'], name=op.f('fk_meetings_forum_id_forums'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meetings_forum_id'), ['forum_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meetings_starts_at'), ['starts_at'], unique=False)

    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=True),
    sa.Column('status', sa.Enum('active', 'on_hold', 'completed', 'stopped', name='project_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('lead_person_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_person_id'], ['people.id'], name=op.f('fk_projects_lead_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name_key', name=op.f('uq_projects_name_key'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_projects_lead_person_id'), ['lead_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_projects_status'), ['status'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('staff', 'service_user', 'carer', 'peer_supporter', 'other', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('involvement', sa.Enum('team_member', 'consulted', name='involvement', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('consent_recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('consent_recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('left_at IS NULL OR left_at >= joined_at', name=op.f('ck_memberships_left_after_joined')),
    sa.ForeignKeyConstraint(['consent_recorded_by_id'], ['people.id'], name=op.f('fk_memberships_consent_recorded_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_memberships_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_memberships_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_person_id'), ['person_id'], unique=False)
        batch_op.create_index('uq_memberships_current', ['project_id', 'person_id'], unique=True, sqlite_where=sa.text('left_at IS NULL'), postgresql_where=sa.text('left_at IS NULL'))
        batch_op.create_index('ix_memberships_lived_experience', ['project_id'], unique=False, sqlite_where=sa.text("left_at IS NULL AND involvement = 'team_member' AND role IN ('carer', 'service_user')"), postgresql_where=sa.text("left_at IS NULL AND involvement = 'team_member' AND role IN ('carer', 'service_user')"))

    op.create_table('rsvps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Enum('going', 'maybe', 'not_going', name='rsvp_answer', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('role', sa.Enum('staff', 'service_user', 'carer', 'peer_supporter', 'other', name='role', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_rsvps_meeting_id_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_rsvps_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rsvps')),
    sa.UniqueConstraint('meeting_id', 'person_id', name=op.f('uq_rsvps_meeting_id'))
    )
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rsvps_person_id'), ['person_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rsvps_person_id'))

    op.drop_table('rsvps')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_memberships_lived_experience', sqlite_where=sa.text("left_at IS NULL AND involvement = 'team_member' AND role IN ('carer', 'service_user')"), postgresql_where=sa.text("left_at IS NULL AND involvement = 'team_member' AND role IN ('carer', 'service_user')"))
        batch_op.drop_index('uq_memberships_current', sqlite_where=sa.text('left_at IS NULL'), postgresql_where=sa.text('left_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_memberships_person_id'))

    op.drop_table('memberships')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_status'))
        batch_op.drop_index(batch_op.f('ix_projects_lead_person_id'))

    op.drop_table('projects')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meetings_starts_at'))
        batch_op.drop_index(batch_op.f('ix_meetings_forum_id'))

    op.drop_table('meetings')
    with op.batch_alter_table('forum_members', schema=None) as batch_op:
        batch_op.drop_index('uq_forum_members_current', sqlite_where=sa.text('left_at IS NULL'), postgresql_where=sa.text('left_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_forum_members_person_id'))

    op.drop_table('forum_members')
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_identities_person_id'))

    op.drop_table('chat_identities')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_person_id'))

    op.drop_table('audit_events')
    with op.batch_alter_table('admin_grants', schema=None) as batch_op:
        batch_op.drop_index('uq_admin_grants_current', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))

    op.drop_table('admin_grants')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_email'))

    op.drop_table('people')
    op.drop_table('forums')
    
