"""task list: indexes for every open task due first (view=all) and the case-number filter

The department queue itself reads ix_human_task_candidate_queue (0006); "my tasks" reads
ix_human_task_assignee_state.

Revision ID: 0009a
Revises: 0008
Create Date: 2026-11-29 04:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009a'
down_revision = '0008'
branch_labels = None
depends_on = None

_OPEN_TASK = sa.text("state = 'CREATED'")


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_open_queue', ['due', 'id'], unique=False,
                              postgresql_where=_OPEN_TASK, sqlite_where=_OPEN_TASK)
        batch_op.create_index('ix_human_task_business_key', ['business_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_business_key')
        batch_op.drop_index('ix_human_task_open_queue')
