"""Several bots in one deployment: each bot serves an area (a county or above).

Revision ID: 0012_bots
Revises: 0011_outbox_unknown
Create Date: 2026-11-28 13:30:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0012_bots'
down_revision: Union[str, Sequence[str], None] = '0011_outbox_unknown'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('bots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.Column('token_env', sa.String(length=100), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_bots_area_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bots')),
    sa.UniqueConstraint('area_code', name=op.f('uq_bots_area_code')),
    sa.UniqueConstraint('username', name=op.f('uq_bots_username'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('bots')
