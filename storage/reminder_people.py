"""Who receives reminders: the registered people, read once per sweep, by role and area, and
who stands in for a person who cannot receive them."""

from __future__ import annotations

from collections.abc import Iterable

from storage.models import (
    User,
)
from storage.schedule import AreaSchedule, Schedules


class People:
    """The registered people, read once per sweep, and who stands in for whom."""

    def __init__(self, users: Iterable[User], schedules: Schedules) -> None:
        self.by_id = {user.id: user for user in users}
        self._schedules = schedules
        self._active = [user for user in self.by_id.values() if user.active]
        # Asked once per problem or household: answered from memory after the first time.
        self._cadres: dict[str, list[User]] = {}
        for user in self._active:
            if user.role == "cadre":
                village = schedules.village_of(user.area_code)
                if village is not None:
                    self._cadres.setdefault(village, []).append(user)
        self._above: dict[tuple[str, str], list[User]] = {}

    def cadres_of(self, village: str) -> list[User]:
        return self._cadres.get(village, [])

    def _over(self, role: str, code: str) -> list[User]:
        key = (role, code)
        found = self._above.get(key)
        if found is None:
            chain = {area.code for area in self._schedules.chain(code)}
            found = self._above[key] = [
                user for user in self._active if user.role == role and user.area_code in chain
            ]
        return found

    def leaders_over(self, code: str) -> list[User]:
        """The leaders nearest above (or at) an area: a village's work team before the
        township's officers."""
        found = self._over("leader", code)
        if len(found) < 2:
            return found
        depth = {user.id: len(self._schedules.chain(user.area_code)) for user in found}
        deepest = max(depth.values())
        return [user for user in found if depth[user.id] == deepest]

    def offices_over(self, code: str) -> list[User]:
        return self._over("office", code)

    def leaders(self) -> list[User]:
        return [user for user in self._active if user.role == "leader"]

    def stand_ins(self, user: User) -> list[User]:
        """Who gets a person's reminders when they cannot: their leader, else the office."""
        found = [u for u in self.leaders_over(user.area_code) if u.id != user.id]
        return found or [u for u in self.offices_over(user.area_code) if u.id != user.id]

    def recipients(self, user_id: int | None, village: str) -> list[User]:
        """The person, when active; else their stand-ins (or the village's leaders)."""
        user = self.by_id.get(user_id) if user_id is not None else None
        if user is not None and user.active:
            return [user]
        if user is not None:
            return self.stand_ins(user)
        return self.leaders_over(village)

    def schedule_of(self, user: User) -> AreaSchedule:
        return self._schedules.of(user.area_code)
