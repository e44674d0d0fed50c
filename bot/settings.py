"""Typed settings of a Hucha instance, read once from the environment (or given by tests)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.retry import DEFAULT_POLICY, RetryPolicy
from storage.db import normalized_database_url

DEFAULT_API_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///hucha.db"
FORMS_DIR = Path(__file__).resolve().parent.parent / "conversations" / "forms"


@dataclass(frozen=True)
class Settings:
    """Everything an instance needs; travels from the composition root to the handlers."""

    token: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    api_url: str = DEFAULT_API_URL
    file_url: str | None = None
    proxy: str | None = None
    forms_dir: Path = FORMS_DIR
    default_language: str = "zh_CN"
    invitation_ttl_days: int = 7
    # Days a cadre may amend (更正) a check they submitted; offices may amend any time.
    amendment_days: int = 7
    page_size: int = 8
    rate_limit: bool = True
    # How every send to Telegram is tried again (bot/retry.py).
    retry: RetryPolicy = DEFAULT_POLICY
    concurrent_updates: int = 32
    bot_username: str | None = None
    # Seconds between reminder sweeps; 0 turns the sweep off (tests drive it themselves).
    reminder_interval: float = 60.0
    # The local photo store exports read (photos fetched from the Bot API once).
    photo_dir: Path = Path("photos")
    # The web dashboard: where it listens (HOST:PORT; None: not served) and its public URL.
    web_listen: str | None = None
    web_url: str | None = None
    # Webhook mode: the secret Telegram sends in X-Telegram-Bot-Api-Secret-Token, and the URL.
    webhook_secret: str | None = None
    webhook_url: str | None = None
    # SQLite: seconds a write waits for another process's before it fails.
    database_busy_timeout: float = 30.0
    # How `hucha run` logs: "json" (a JSON line per event) or "text".
    log_format: str = "json"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_file_url(self) -> str:
        """The file download base in python-telegram-bot's sense (…/file/bot)."""
        if self.file_url:
            return self.file_url
        if self.api_url.endswith("/bot"):
            return self.api_url[: -len("/bot")] + "/file/bot"
        return self.api_url.rstrip("/") + "/file/bot"

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from HUCHA_* variables (and DATABASE_URL, HTTPS_PROXY)."""
    env = os.environ if environ is None else environ
    return Settings(
        token=env.get("HUCHA_TELEGRAM_TOKEN") or None,
        database_url=normalized_database_url(env.get("DATABASE_URL", "")),
        api_url=env.get("HUCHA_API_URL", DEFAULT_API_URL),
        file_url=env.get("HUCHA_FILE_URL") or None,
        proxy=env.get("HUCHA_PROXY") or env.get("HTTPS_PROXY") or None,
        forms_dir=Path(env.get("HUCHA_FORMS_DIR", str(FORMS_DIR))),
        default_language=env.get("HUCHA_LANGUAGE", "zh_CN"),
        invitation_ttl_days=int(env.get("HUCHA_INVITATION_TTL_DAYS", "7")),
        amendment_days=int(env.get("HUCHA_AMENDMENT_DAYS", "7")),
        bot_username=env.get("HUCHA_BOT_USERNAME") or None,
        reminder_interval=float(env.get("HUCHA_REMINDER_INTERVAL", "60")),
        photo_dir=Path(env.get("HUCHA_PHOTO_DIR", "photos")),
        web_listen=env.get("HUCHA_WEB_LISTEN") or None,
        web_url=env.get("HUCHA_WEB_URL") or None,
        webhook_secret=env.get("HUCHA_WEBHOOK_SECRET") or None,
        webhook_url=env.get("HUCHA_WEBHOOK_URL") or None,
        database_busy_timeout=float(env.get("HUCHA_DATABASE_BUSY_TIMEOUT", "30")),
        log_format=env.get("HUCHA_LOG_FORMAT", "json"),
    )
