"""approval: opinions, carbon copies, proxies

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 15:26:51.521670
"""

import sqlalchemy as sa
from alembic import op

import orchestrator.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_proxy',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('principal', sa.String(length=128), nullable=False),
    sa.Column('proxy', sa.String(length=128), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_proxy', schema=None) as batch_op:
        batch_op.create_index('ix_task_proxy_principal', ['principal', 'starts_on', 'ends_on'], unique=False)

    op.create_table('approval_opinion',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('activity_id', sa.String(length=255), nullable=False),
    sa.Column('activity_name', sa.String(length=255), nullable=True),
    sa.Column('department', sa.String(length=255), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=True),
    sa.Column('opinion', sa.Text(), nullable=False),
    sa.Column('signature_type', sa.String(length=32), nullable=True),
    sa.Column('signature', sa.LargeBinary(), nullable=True),
    sa.Column('signature_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approval_opinion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_opinion_instance_id'), ['instance_id'], unique=False)

    op.create_table('carbon_copy',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('activity_id', sa.String(length=255), nullable=True),
    sa.Column('recipient_kind', sa.String(length=8), nullable=False),
    sa.Column('recipient', sa.String(length=128), nullable=False),
    sa.Column('sent_by', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', orchestrator.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', orchestrator.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('carbon_copy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carbon_copy_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_carbon_copy_recipient', ['recipient_kind', 'recipient', 'read_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('carbon_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_carbon_copy_recipient')
        batch_op.drop_index(batch_op.f('ix_carbon_copy_instance_id'))

    op.drop_table('carbon_copy')
    with op.batch_alter_table('approval_opinion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_opinion_instance_id'))

    op.drop_table('approval_opinion')
    with op.batch_alter_table('task_proxy', schema=None) as batch_op:
        batch_op.drop_index('ix_task_proxy_principal')

    op.drop_table('task_proxy')
