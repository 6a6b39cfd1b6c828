"""timers: a partial index on the due time of pending timers, matching the scheduler's claim predicate

The index (suspended, due_at) was not used for the claim on PostgreSQL (its predicate was written
`suspended IS false`, and the planner joined every active case): a claim scanned all pending rows.

Revision ID: 0010
Revises: 0009a
Create Date: 2026-11-29 04:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009a'
branch_labels = None
depends_on = None

# Rendered per dialect as the models render it (`= false` on PostgreSQL, `= 0` on SQLite), so it matches.
_PENDING = sa.column('suspended', sa.Boolean) == sa.false()


def upgrade() -> None:
    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_index('ix_timer_due')
        batch_op.create_index('ix_timer_pending', ['due_at'], unique=False,
                              postgresql_where=_PENDING, sqlite_where=_PENDING)


def downgrade() -> None:
    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_index('ix_timer_pending')
        batch_op.create_index('ix_timer_due', ['suspended', 'due_at'], unique=False)
