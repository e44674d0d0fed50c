"""A reminder whose sending timed out is "unknown": perhaps delivered, so not sent again.

Revision ID: 0011_outbox_unknown
Revises: 0010_tiers
Create Date: 2026-11-28 14:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011_outbox_unknown'
down_revision: Union[str, Sequence[str], None] = '0010_tiers'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_STATUSES = "status IN ('pending', 'sent', 'cancelled', 'rerouted', 'failed')"
NEW_STATUSES = "status IN ('pending', 'sent', 'cancelled', 'rerouted', 'failed', 'unknown')"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('reminder_outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reminder_outbox_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_reminder_outbox_status'), NEW_STATUSES)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("UPDATE reminder_outbox SET status = 'failed' WHERE status = 'unknown'")
    with op.batch_alter_table('reminder_outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_reminder_outbox_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_reminder_outbox_status'), OLD_STATUSES)
