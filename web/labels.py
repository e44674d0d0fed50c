"""Names users read for statuses, actions and steps (message ids shared with
the bot, so one translation serves both)."""

from __future__ import annotations

from conversations.messages import N_
from storage.models import ProblemStatus

STATUS_NAMES: dict[str, str] = {
    ProblemStatus.OPEN: N_("Open"),
    ProblemStatus.IN_PROGRESS: N_("In progress"),
    ProblemStatus.RECTIFIED: N_("Rectified, awaiting verification"),
    ProblemStatus.VERIFIED: N_("Verified (closed)"),
    ProblemStatus.WITHDRAWN: N_("Withdrawn: raised in error"),
}
ACTION_NAMES = {
    "progress": N_("Add progress"),
    "rectify": N_("Report rectified"),
    "verify": N_("Verify (close)"),
    "return": N_("Return with a reason"),
    "deadline": N_("Change the deadline"),
    "unit": N_("Change the unit"),
}
HISTORY_NAMES = {
    "raised": N_("raised by a check"),
    "added": N_("added by hand"),
    "progress": N_("progress"),
    "rectify": N_("reported rectified"),
    "verify": N_("verified"),
    "return": N_("returned"),
    "deadline": N_("deadline changed"),
    "deadline_past_cutoff": N_("deadline set past the campaign's cut-off, on the office's word"),
    "unit": N_("unit changed"),
}
NOTICE_NAMES = {
    "check": N_("Household check results"),
    "inclusion": N_("Households proposed for monitoring"),
    "removal": N_("Households proposed for risk removal"),
}
ROLE_NAMES = {"cadre": N_("village cadre"), "leader": N_("team leader"), "office": N_("office")}
SORT_NAMES = {
    "newest": N_("Newest first"),
    "deadline": N_("By deadline"),
    "oldest": N_("Oldest first"),
}
