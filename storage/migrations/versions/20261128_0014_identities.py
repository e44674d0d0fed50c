"""People are reached through identities (channel, address); Telegram keeps its own table of
where a check is shown.

identities gets one row per user, channel 'telegram', from users.telegram_id, which is dropped.
telegram_prompts gets one row per check session, from check_sessions.chat_id and
prompt_message_id, which are dropped; an open check's "shown_update" moves there from its
state. The downgrade moves all of it back, and refuses when someone has no Telegram identity
(the earlier schema cannot hold them).

Revision ID: 0014_identities
Revises: 0013_campaigns
Create Date: 2026-11-28 16:00:00.000000+00:00

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision: str = '0014_identities'
down_revision: Union[str, Sequence[str], None] = '0013_campaigns'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SHOWN = 'shown_update'
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
sessions = sa.table(
    'check_sessions',
    sa.column('id', sa.Integer()),
    sa.column('status', sa.String()),
    sa.column('state', JSON_DOCUMENT),
)
prompts = sa.table(
    'telegram_prompts',
    sa.column('session_id', sa.Integer()),
    sa.column('shown_update', sa.BigInteger()),
)


def _open_states() -> list[Any]:
    query = sa.select(sessions.c.id, sessions.c.state).where(sessions.c.status == 'open')
    return list(op.get_bind().execute(query))


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_identities_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('channel', 'address', name=op.f('uq_identities_channel_address')),
    sa.UniqueConstraint('user_id', 'channel', name=op.f('uq_identities_user_id_channel'))
    )
    op.create_table('telegram_prompts',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('shown_update', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['check_sessions.id'], name=op.f('fk_telegram_prompts_session_id_check_sessions')),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_telegram_prompts'))
    )
    op.execute(
        "INSERT INTO identities (user_id, channel, address)"
        " SELECT id, 'telegram', CAST(telegram_id AS VARCHAR(200)) FROM users"
    )
    op.execute(
        "INSERT INTO telegram_prompts (session_id, chat_id, message_id)"
        " SELECT id, chat_id, prompt_message_id FROM check_sessions"
    )
    bind = op.get_bind()
    for session_id, state in _open_states():
        if not isinstance(state, dict) or state.get(SHOWN) is None:
            continue
        kept = {key: value for key, value in state.items() if key != SHOWN}
        bind.execute(
            prompts.update()
            .where(prompts.c.session_id == session_id)
            .values(shown_update=int(state[SHOWN]))
        )
        bind.execute(sessions.update().where(sessions.c.id == session_id).values(state=kept))
    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.drop_column('prompt_message_id')
        batch_op.drop_column('chat_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_telegram_id'), type_='unique')
        batch_op.drop_column('telegram_id')


def downgrade() -> None:
    """Downgrade schema."""
    bind = op.get_bind()
    unreachable = bind.scalar(
        sa.text(
            "SELECT count(*) FROM users WHERE NOT EXISTS (SELECT 1 FROM identities"
            " WHERE identities.user_id = users.id AND identities.channel = 'telegram')"
        )
    )
    if unreachable:
        raise RuntimeError(
            f"{unreachable} users have no Telegram identity; the earlier schema cannot hold them"
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telegram_id', sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE users SET telegram_id = (SELECT CAST(address AS BIGINT) FROM identities"
        " WHERE identities.user_id = users.id AND identities.channel = 'telegram')"
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('telegram_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_telegram_id'), ['telegram_id'])

    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prompt_message_id', sa.BigInteger(), nullable=True))
    # A check shown nowhere in Telegram goes back to its cadre's private chat.
    op.execute(
        "UPDATE check_sessions SET"
        " chat_id = COALESCE("
        "(SELECT chat_id FROM telegram_prompts WHERE session_id = check_sessions.id),"
        " (SELECT telegram_id FROM users WHERE users.id = check_sessions.user_id)),"
        " prompt_message_id ="
        " (SELECT message_id FROM telegram_prompts WHERE session_id = check_sessions.id)"
    )
    shown = dict(
        bind.execute(
            sa.select(prompts.c.session_id, prompts.c.shown_update).where(
                prompts.c.shown_update.is_not(None)
            )
        ).all()
    )
    for session_id, state in _open_states():
        if session_id in shown and isinstance(state, dict):
            bind.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(state={**state, SHOWN: shown[session_id]})
            )
    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=False)

    op.drop_table('telegram_prompts')
    op.drop_table('identities')
