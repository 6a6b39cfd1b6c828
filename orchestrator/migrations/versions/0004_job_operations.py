"""job operations: attempts, failures, last failure and re-publication times

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 15:40:00
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_failed_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('republished_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_job_state_ended', ['state', 'ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_state_ended')
        batch_op.drop_column('republished_at')
        batch_op.drop_column('last_failed_at')
        batch_op.drop_column('failures')
        batch_op.drop_column('attempts')
