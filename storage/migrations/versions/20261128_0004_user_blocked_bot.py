"""Why a user is inactive: blocking the bot is told apart from a deactivation by an office.

Unblocking the bot may only undo what blocking did. Until now only blocking made a user
inactive, so the users inactive today are marked as having blocked the bot.

Revision ID: 0004_blocked
Revises: 0003_offices
Create Date: 2026-11-28 09:50:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0004_blocked'
down_revision: Union[str, Sequence[str], None] = '0003_offices'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('blocked_bot', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    users = sa.table('users', sa.column('active', sa.Boolean()), sa.column('blocked_bot', sa.Boolean()))
    op.execute(users.update().where(users.c.active.is_(False)).values(blocked_bot=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('blocked_bot')
