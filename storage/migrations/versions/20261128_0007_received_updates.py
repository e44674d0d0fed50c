"""Received updates (收件箱): every Telegram update is stored before it is acknowledged.

Revision ID: 0007_received_updates
Revises: 0006_web
Create Date: 2026-11-28 10:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0007_received_updates'
down_revision: Union[str, Sequence[str], None] = '0006_web'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('received_updates',
    sa.Column('bot', sa.String(length=32), nullable=False),
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('bot', 'update_id', name=op.f('pk_received_updates'))
    )
    with op.batch_alter_table('received_updates', schema=None) as batch_op:
        batch_op.create_index('ix_received_updates_pending', ['bot', 'done_at', 'update_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('received_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_received_updates_pending')
    op.drop_table('received_updates')
