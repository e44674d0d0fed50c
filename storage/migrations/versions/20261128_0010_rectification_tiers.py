"""Rectification tiers as the seeds name them: 立行立改 (immediate), 限时整改 (timed), 长期坚持
(ongoing). The tier formerly stored as "staged" (阶段整改) is "timed" now, in the problems and in
the areas' `deadline_tiers` settings. The index the ledger counts from holds the tier, since a
长期坚持 problem is never overdue.

Revision ID: 0010_tiers
Revises: 0009_problem_village
Create Date: 2026-11-28 13:00:00.000000+00:00

"""
import json
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0010_tiers'
down_revision: Union[str, Sequence[str], None] = '0009_problem_village'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

problems = sa.table("problems", sa.column("deadline_tier", sa.String))
areas = sa.table(
    "areas", sa.column("code", sa.String), sa.column("settings", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"))
)


def _rename(old: str, new: str) -> None:
    bind = op.get_bind()
    bind.execute(
        problems.update().where(problems.c.deadline_tier == old).values(deadline_tier=new)
    )
    for code, settings in bind.execute(sa.select(areas.c.code, areas.c.settings)).all():
        if isinstance(settings, str):
            settings = json.loads(settings)
        tiers: Any = (settings or {}).get("deadline_tiers")
        if not isinstance(tiers, dict) or old not in tiers.values():
            continue
        renamed = {key: new if value == old else value for key, value in tiers.items()}
        bind.execute(
            areas.update()
            .where(areas.c.code == code)
            .values(settings={**settings, "deadline_tiers": renamed})
        )


COUNTED = ["village_code", "status", "category", "responsible_unit", "deadline"]


def _counting_index(columns: list[str]) -> None:
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index('ix_problems_village_code_status')
        batch_op.create_index('ix_problems_village_code_status', columns, unique=False)


def upgrade() -> None:
    """Upgrade schema."""
    _rename("staged", "timed")
    # Whether a problem can be overdue is counted from the index too.
    _counting_index([*COUNTED, "deadline_tier"])


def downgrade() -> None:
    """Downgrade schema."""
    _counting_index(COUNTED)
    _rename("timed", "staged")
