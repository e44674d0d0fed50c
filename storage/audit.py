"""The audit trail (操作日志): who did what to which subject, and when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.documents import json_document
from storage.models import AuditEntry


async def audit(
    s: AsyncSession,
    action: str,
    subject: str,
    now: datetime,
    user_id: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record `action` (e.g. "check.submitted") on `subject` (e.g. "household:12")."""
    entry = AuditEntry(
        at=now,
        user_id=user_id,
        action=action,
        subject=subject,
        details=json_document(details or {}),
    )
    s.add(entry)
    await s.flush()
    return entry
