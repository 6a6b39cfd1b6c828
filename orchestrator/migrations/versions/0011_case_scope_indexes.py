"""case lists: indexes for the reach of a supervisor's or a reviewer's case list (department, owner, completed by)

GET /engine-rest/process-instance below the top level lists the cases with a task of the reader's
departments, or one it holds, owns or completed (services/queries.py `_cases_in`). Without these indexes
PostgreSQL filtered every task row (a sequential scan, 100–300 ms at 200,000 tasks); see
benchmarks/case_scope.py.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_HAS_OWNER = sa.column('owner', sa.String) != sa.null()


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_department', ['department', 'instance_id'], unique=False)
        batch_op.create_index('ix_human_task_owner', ['owner'], unique=False,
                              postgresql_where=_HAS_OWNER, sqlite_where=_HAS_OWNER)
        batch_op.create_index('ix_human_task_completed_by', ['completed_by', 'instance_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_completed_by')
        batch_op.drop_index('ix_human_task_owner')
        batch_op.drop_index('ix_human_task_department')
