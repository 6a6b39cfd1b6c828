"""statutory clock: case clocks, pauses (special procedures) and extensions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 06:42:28.046278
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_clock',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('definition_key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('limit_days', sa.Integer(), nullable=False),
    sa.Column('deadline', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('warn_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paused_since', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paused_workdays', sa.Integer(), nullable=False),
    sa.Column('extended_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('warned_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'kind', name='uq_case_clock_instance_kind')
    )
    with op.batch_alter_table('case_clock', schema=None) as batch_op:
        batch_op.create_index('ix_case_clock_bundle_status', ['definition_key', 'status'], unique=False)
        batch_op.create_index('ix_case_clock_status_deadline', ['status', 'deadline'], unique=False)
        batch_op.create_index('ix_case_clock_status_warn_at', ['status', 'warn_at'], unique=False)

    op.create_table('clock_extension',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('clock_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('approved_by', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clock_id'], ['case_clock.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clock_extension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clock_extension_clock_id'), ['clock_id'], unique=False)

    op.create_table('clock_pause',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('clock_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('started_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('workdays', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['clock_id'], ['case_clock.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clock_pause', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clock_pause_clock_id'), ['clock_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('clock_pause', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clock_pause_clock_id'))

    op.drop_table('clock_pause')
    with op.batch_alter_table('clock_extension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clock_extension_clock_id'))

    op.drop_table('clock_extension')
    with op.batch_alter_table('case_clock', schema=None) as batch_op:
        batch_op.drop_index('ix_case_clock_status_warn_at')
        batch_op.drop_index('ix_case_clock_status_deadline')
        batch_op.drop_index('ix_case_clock_bundle_status')

    op.drop_table('case_clock')
