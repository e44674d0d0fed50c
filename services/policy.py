"""Who may do what (权限): one function answers "may this user do this to that" for the bot,
the dashboard and the CLI alike. The problem transitions themselves stay in storage.problems
(its TRANSITIONS table); this module reads them, it does not restate them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from conversations.messages import N_
from storage.errors import StorageError
from storage.exports import EXPORT_ROLES
from storage.models import ProblemStatus, User
from storage.monitoring import OPENING_ROLES, STEP_ROLES
from storage.problems import TRANSITIONS


class Role(StrEnum):
    CADRE = "cadre"
    LEADER = "leader"
    OFFICE = "office"


class Deed(StrEnum):
    """Things a person does. The first six are the problem transitions of storage.problems."""

    PROGRESS = "progress"
    RECTIFY = "rectify"
    VERIFY = "verify"
    RETURN = "return"
    DEADLINE = "deadline"
    UNIT = "unit"
    ADD_PROBLEM = "add_problem"
    EXPORT = "export"
    EXPORT_UNMASKED = "export_unmasked"
    CASE_STEP = "case_step"
    OPEN_CASE = "open_case"  # a monitoring case by hand: an application, a risk removal
    VIEW = "view"
    OPEN_CAMPAIGN = "open_campaign"
    PAST_CUTOFF = "past_cutoff"
    INVITE = "invite"  # issue an invitation code into an area


PROBLEM_DEEDS: tuple[Deed, ...] = tuple(Deed(name) for name in TRANSITIONS)


@dataclass(frozen=True)
class Subject:
    """The "that": whether it lies in the user's area, and its state when it has one
    (a problem's status, a case's next step)."""

    in_area: bool = True
    state: str | None = None


def refusal(user: User, deed: Deed, subject: Subject = Subject()) -> str | None:
    """Why `user` may not do `deed` to `subject` (a message id), or None when they may."""
    if not user.active:
        return N_("Unknown user.")
    if not subject.in_area:
        return N_("This is not in your area.")
    role = user.role
    if deed in PROBLEM_DEEDS:
        rule = TRANSITIONS[deed.value]
        if role not in rule.roles:
            return N_("Your role cannot do this.")
        if subject.state is not None and subject.state not in rule.from_statuses:
            if subject.state == ProblemStatus.VERIFIED:
                return N_("This problem is closed (verified) already.")
            return N_("This cannot be done to the problem in its current state.")
        return None
    if deed is Deed.ADD_PROBLEM:
        return None if role in (Role.LEADER, Role.OFFICE) else N_("Your role cannot do this.")
    if deed in (Deed.OPEN_CAMPAIGN, Deed.PAST_CUTOFF, Deed.INVITE):
        # A campaign (专项排查) and its cut-off are the office's: opened for its own area,
        # passed only on its explicit word. So are invitations into its area.
        return None if role == Role.OFFICE else N_("Only an office can do this.")
    if deed is Deed.EXPORT:
        return None if role in EXPORT_ROLES else N_("Only offices and team leaders can export.")
    if deed is Deed.EXPORT_UNMASKED:
        if role not in EXPORT_ROLES:
            return N_("Only offices and team leaders can export.")
        return None if role == Role.OFFICE else N_("Only an office can export full ID numbers.")
    if deed is Deed.OPEN_CASE:
        return None if role in OPENING_ROLES else N_("Your role cannot do this.")
    if deed is Deed.CASE_STEP:
        return (
            None
            if role in STEP_ROLES.get(subject.state or "", ())
            else N_("Your role cannot do this.")
        )
    return None


def may(user: User, deed: Deed, subject: Subject = Subject()) -> bool:
    """Whether `user` may do `deed` to `subject`."""
    return refusal(user, deed, subject) is None


def require(user: User, deed: Deed, subject: Subject = Subject()) -> None:
    """Raise StorageError with the reason when `user` may not do `deed` to `subject`."""
    reason = refusal(user, deed, subject)
    if reason is not None:
        raise StorageError(reason)


def problem_deeds(user: User, status: str) -> list[Deed]:
    """The problem actions open to `user` on a problem in `status`, in the order shown."""
    return [deed for deed in PROBLEM_DEEDS if may(user, deed, Subject(state=status))]
