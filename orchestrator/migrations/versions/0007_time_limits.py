"""time limits: timer firings, step limits on tasks, supervision items and actions, notifications

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 15:26:57.162720
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('recipient', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_recipient_read', ['recipient', 'read_at', 'id'], unique=False)

    op.create_table('supervision_action',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('supervision_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_action_instance_id'), ['instance_id'], unique=False)

    op.create_table('supervision_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('bundle', sa.String(length=255), nullable=False),
    sa.Column('department', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('limit_deadline', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opened_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source')
    )
    with op.batch_alter_table('supervision_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_item_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_supervision_item_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('timer_firing',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('timer_id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('activity_id', sa.String(length=255), nullable=False),
    sa.Column('due_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fired_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lateness_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('timer_firing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timer_firing_fired_at'), ['fired_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_timer_firing_instance_id'), ['instance_id'], unique=False)

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limit_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('limit_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('warn_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('department', sa.String(length=128), nullable=True))
        batch_op.create_index('ix_human_task_limit_due', ['limit_state', 'due'], unique=False)
        batch_op.create_index('ix_human_task_limit_warn', ['limit_state', 'warn_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_limit_warn')
        batch_op.drop_index('ix_human_task_limit_due')
        batch_op.drop_column('department')
        batch_op.drop_column('warn_at')
        batch_op.drop_column('limit_days')
        batch_op.drop_column('limit_state')

    with op.batch_alter_table('timer_firing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timer_firing_instance_id'))
        batch_op.drop_index(batch_op.f('ix_timer_firing_fired_at'))

    op.drop_table('timer_firing')
    with op.batch_alter_table('supervision_item', schema=None) as batch_op:
        batch_op.drop_index('ix_supervision_item_status_deadline')
        batch_op.drop_index(batch_op.f('ix_supervision_item_instance_id'))

    op.drop_table('supervision_item')
    with op.batch_alter_table('supervision_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_action_instance_id'))

    op.drop_table('supervision_action')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_recipient_read')

    op.drop_table('notification')
