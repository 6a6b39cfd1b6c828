"""calendar overrides: administrator-edited holidays and make-up working days, and complete years

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:24:16.632467
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_day',
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.String(length=128), nullable=True),
    sa.Column('updated_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('date')
    )
    op.create_table('calendar_year',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('published_at', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('year')
    )


def downgrade() -> None:
    op.drop_table('calendar_year')
    op.drop_table('calendar_day')
