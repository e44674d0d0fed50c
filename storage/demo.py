"""The demo world (演示数据) for `hucha demo` and the tests: a fictional county, township and
two villages, with households in the situations a check must handle. Names and ID numbers are
made up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import audit
from storage.models import Area, Household, Member

DEMO_COUNTY = "320705"
DEMO_TOWNSHIP = "320705001"
DEMO_VILLAGE = "320705001001"
DEMO_OTHER_VILLAGE = "320705001002"
DEMO_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DemoSeed:
    county_code: str
    township_code: str
    village_code: str
    other_village_code: str
    household_ids: tuple[int, ...]
    other_household_ids: tuple[int, ...]


@dataclass(frozen=True)
class _Person:
    name: str
    relation: str
    sex: str
    age: int
    health: str = "健康"
    schooling: str | None = None


@dataclass(frozen=True)
class _Family:
    number: str
    group_name: str
    household_type: str
    help_cadre: str
    people: tuple[_Person, ...]


_AREAS = (
    (DEMO_COUNTY, "云港区", "county", None, "江苏"),
    (DEMO_TOWNSHIP, "朝阳镇", "township", DEMO_COUNTY, None),
    (DEMO_VILLAGE, "幸福村", "village", DEMO_TOWNSHIP, None),
    (DEMO_OTHER_VILLAGE, "红星村", "village", DEMO_TOWNSHIP, None),
)

_P = _Person
# fmt: off
_HAPPY_VILLAGE = (
    _Family("001", "一组", "脱贫户", "李卫东", (
        _P("王建国", "户主", "男", 45),
        _P("李秀英", "配偶", "女", 43),
        _P("王小明", "之子", "男", 12, schooling="小学六年级"),
        _P("王小红", "之女", "女", 9, schooling="小学三年级"),
    )),
    _Family("002", "一组", "脱贫户", "李卫东", (
        _P("张桂兰", "户主", "女", 78, health="长期慢性病（高血压）"),
    )),
    _Family("003", "一组", "监测户", "李卫东", (
        _P("刘志强", "户主", "男", 52, health="残疾（肢体二级）"),
        _P("陈玉梅", "配偶", "女", 48),
        _P("刘洋", "之子", "男", 14, schooling="初中二年级"),
    )),
    _Family("004", "一组", "一般户", "李卫东", (
        _P("陈宝山", "户主", "男", 60, health="长期慢性病（糖尿病）"),
        _P("赵淑珍", "配偶", "女", 58),
    )),
    _Family("005", "二组", "脱贫户", "王芳", (
        _P("赵永福", "户主", "男", 66),
        _P("孙凤英", "配偶", "女", 64, health="长期慢性病（冠心病）"),
        _P("赵大勇", "之子", "男", 40),
        _P("周丽", "儿媳", "女", 38),
        _P("赵子涵", "孙女", "女", 15, schooling="初中三年级"),
        _P("赵子轩", "孙子", "男", 11, schooling="小学五年级"),
        _P("赵子墨", "孙子", "男", 7, schooling="小学一年级"),
        _P("钱桂芝", "母亲", "女", 88, health="患有大病"),
    )),
    _Family("006", "二组", "监测户", "王芳", (
        _P("孙玉珍", "户主", "女", 70),
        _P("孙浩", "孙子", "男", 10, schooling="小学四年级"),
    )),
    _Family("007", "二组", "脱贫户", "王芳", (
        _P("周国平", "户主", "男", 55, health="患有大病（尿毒症）"),
        _P("吴秀兰", "配偶", "女", 53),
        _P("周敏", "之女", "女", 17, schooling="高中二年级"),
    )),
    _Family("008", "二组", "一般户", "王芳", (
        _P("吴长林", "户主", "男", 38),
        _P("郑红梅", "配偶", "女", 36),
        _P("吴乐乐", "之子", "男", 6, schooling="小学一年级"),
        _P("吴悦", "之女", "女", 4),
    )),
    _Family("009", "三组", "脱贫户", "李卫东", (
        _P("郑福海", "户主", "男", 82, health="残疾（视力一级）"),
    )),
    _Family("010", "三组", "监测户", "李卫东", (
        _P("黄金山", "户主", "男", 47),
        _P("马秀珍", "配偶", "女", 45, health="长期慢性病（风湿性关节炎）"),
        _P("黄晓东", "之子", "男", 13, health="残疾（智力三级）", schooling="送教上门"),
    )),
    _Family("011", "三组", "一般户", "王芳", (
        _P("林国庆", "户主", "男", 50),
        _P("何美玲", "配偶", "女", 49),
        _P("林志远", "之子", "男", 24),
    )),
    _Family("012", "三组", "脱贫户", "王芳", (
        _P("何春生", "户主", "男", 35),
        _P("罗桂香", "母亲", "女", 68, health="长期慢性病（慢阻肺）"),
        _P("何欣怡", "之女", "女", 8, schooling="小学二年级"),
    )),
)
_RED_STAR_VILLAGE = (
    _Family("001", "一组", "脱贫户", "赵磊", (
        _P("马德明", "户主", "男", 58),
        _P("宋丽华", "配偶", "女", 56),
    )),
    _Family("002", "一组", "一般户", "赵磊", (
        _P("许文斌", "户主", "男", 44),
        _P("许佳琪", "之女", "女", 10, schooling="小学四年级"),
    )),
)

# fmt: on

# GB 11643 check digit weights and characters for the 18th digit of an ID number.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def demo_id_number(birth_date: date, sequence: int, sex: str) -> str:
    """A well-formed, made-up resident ID number (居民身份证号) for the demo county."""
    order = (sequence * 2 + (1 if sex == "男" else 0)) % 1000
    body = f"{DEMO_COUNTY}{birth_date:%Y%m%d}{order:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def _birth_date(today: date, age: int, days_before: int) -> date:
    """A birth date giving `age` full years today (the birthday passed `days_before` ago)."""
    birthday = today - timedelta(days=days_before)
    try:
        return birthday.replace(year=birthday.year - age)
    except ValueError:  # 29 February in a year that has none
        return birthday.replace(year=birthday.year - age, day=28)


async def _ensure_areas(s: AsyncSession) -> bool:
    created = False
    for code, name, level, parent_code, province in _AREAS:
        if await s.get(Area, code) is None:
            s.add(
                Area(
                    code=code,
                    name=name,
                    level=level,
                    parent_code=parent_code,
                    province=province,
                    timezone="Asia/Shanghai",
                    settings={},
                )
            )
            await s.flush()
            created = True
    return created


async def _ensure_households(
    s: AsyncSession, village_code: str, families: tuple[_Family, ...], today: date, now: datetime
) -> tuple[tuple[int, ...], bool]:
    ids: list[int] = []
    created = False
    for family_index, family in enumerate(families):
        household = await s.scalar(
            select(Household).where(
                Household.village_code == village_code, Household.number == family.number
            )
        )
        if household is None:
            household = _new_household(village_code, family_index, family, today, now)
            s.add(household)
            await s.flush()
            s.add_all(_new_members(household, family_index, family, today))
            await s.flush()
            created = True
        ids.append(household.id)
    return tuple(ids), created


def _new_household(
    village_code: str, family_index: int, family: _Family, today: date, now: datetime
) -> Household:
    head = family.people[0]
    return Household(
        village_code=village_code,
        group_name=family.group_name,
        number=family.number,
        head_name=head.name,
        head_id_number=demo_id_number(
            _birth_date(today, head.age, 30 + family_index), family_index * 10, head.sex
        ),
        household_type=family.household_type,
        help_cadre=family.help_cadre,
        phone=f"1380000{village_code[-3:]}{family.number[-1]}",
        created_at=now,
        updated_at=now,
    )


def _new_members(
    household: Household, family_index: int, family: _Family, today: date
) -> list[Member]:
    # The head's birth date and sequence are those _new_household used, so the IDs agree.
    members = []
    for index, person in enumerate(family.people):
        birth_date = _birth_date(today, person.age, 30 + family_index + 7 * index)
        id_number = demo_id_number(birth_date, family_index * 10 + index, person.sex)
        members.append(
            Member(
                household_id=household.id,
                name=person.name,
                relation=person.relation,
                id_number=id_number,
                sex=person.sex,
                birth_date=birth_date,
                health=person.health,
                schooling=person.schooling,
                active=True,
            )
        )
    return members


async def seed_demo(s: AsyncSession, now: datetime) -> DemoSeed:
    """Create the demo areas and households that are missing; a second call changes nothing.

    Ages are counted from `now` in China's time zone, so the school-age children are 6 to 15
    whenever the demo is seeded.
    """
    today = now.astimezone(DEMO_ZONE).date()
    created = await _ensure_areas(s)
    household_ids, created_here = await _ensure_households(
        s, DEMO_VILLAGE, _HAPPY_VILLAGE, today, now
    )
    other_ids, created_there = await _ensure_households(
        s, DEMO_OTHER_VILLAGE, _RED_STAR_VILLAGE, today, now
    )
    if created or created_here or created_there:
        await audit(s, "demo.seeded", f"area:{DEMO_COUNTY}", now)
    return DemoSeed(
        county_code=DEMO_COUNTY,
        township_code=DEMO_TOWNSHIP,
        village_code=DEMO_VILLAGE,
        other_village_code=DEMO_OTHER_VILLAGE,
        household_ids=household_ids,
        other_household_ids=other_ids,
    )


@dataclass(frozen=True)
class DemoRoster:
    """A demo household as a check sees it: its number, type and roster (as `roster_of`)."""

    number: str
    household_type: str
    members: tuple[dict[str, object], ...]


def demo_rosters(today: date) -> list[DemoRoster]:
    """The households of the demo village (幸福村), without a database: for benches."""
    rosters = []
    for family_index, family in enumerate(_HAPPY_VILLAGE):
        members = []
        for index, person in enumerate(family.people):
            birth_date = _birth_date(today, person.age, 30 + family_index + 7 * index)
            members.append(
                {
                    "member_id": index + 1,
                    "name": person.name,
                    "relation": person.relation,
                    "sex": person.sex,
                    "birth_date": birth_date.isoformat(),
                    "health_on_roster": person.health,
                    "schooling_on_roster": person.schooling,
                }
            )
        rosters.append(DemoRoster(family.number, family.household_type, tuple(members)))
    return rosters
