"""accounts: users, departments, roles, tokens, login throttling; task candidates carry due and assignee

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:24:16.662173
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

_QUEUE = sa.text("assignee IS NULL AND NOT suspended")


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('district', sa.String(length=128), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('audit_chain_head',
    sa.Column('chain', sa.String(length=32), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.Column('last_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.PrimaryKeyConstraint('chain')
    )
    op.create_table('department',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['department.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_parent_id'), ['parent_id'], unique=False)

    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('api_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('user_department',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('department_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'department_id')
    )
    with op.batch_alter_table('user_department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_department_department_id'), ['department_id'], unique=False)

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applicant', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('delegation_state', sa.String(length=16), nullable=True))
        batch_op.drop_index(batch_op.f('ix_human_task_assignee_state'))
        batch_op.create_index('ix_human_task_assignee_state', ['assignee', 'state', 'due'], unique=False)

    with op.batch_alter_table('human_task_candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due', orchestrator.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('assignee', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('suspended', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_index(batch_op.f('ix_human_task_candidate_lookup'))
        batch_op.create_index('ix_human_task_candidate_lookup', ['kind', 'value', 'due', 'task_id'], unique=False,
                              postgresql_include=['assignee', 'suspended'])
        batch_op.create_index('ix_human_task_candidate_queue', ['kind', 'value', 'due', 'task_id'], unique=False,
                              postgresql_where=_QUEUE, sqlite_where=_QUEUE)

    # Candidate rows now exist only for open tasks and carry the task's due time, assignee and suspension.
    op.execute("DELETE FROM human_task_candidate WHERE task_id IN (SELECT id FROM human_task WHERE state <> 'CREATED')")
    op.execute("UPDATE human_task_candidate SET due = (SELECT due FROM human_task WHERE id = task_id), "
               "assignee = (SELECT assignee FROM human_task WHERE id = task_id), "
               "suspended = (SELECT suspended FROM human_task WHERE id = task_id)")


def downgrade() -> None:
    with op.batch_alter_table('human_task_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_candidate_queue')
        batch_op.drop_index('ix_human_task_candidate_lookup')
        batch_op.create_index(batch_op.f('ix_human_task_candidate_lookup'), ['kind', 'value', 'task_id'], unique=False)
        batch_op.drop_column('suspended')
        batch_op.drop_column('assignee')
        batch_op.drop_column('due')

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_assignee_state')
        batch_op.create_index(batch_op.f('ix_human_task_assignee_state'), ['assignee', 'state'], unique=False)
        batch_op.drop_column('delegation_state')
        batch_op.drop_column('applicant')

    with op.batch_alter_table('user_department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_department_department_id'))

    op.drop_table('user_department')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    op.drop_table('login_throttle')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_parent_id'))

    op.drop_table('department')
    op.drop_table('audit_chain_head')
    op.drop_table('app_user')
