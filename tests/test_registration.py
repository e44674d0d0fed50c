"""Who gets in: invitations, deep links, and what an unknown user sees."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import AuditEntry, user_by_telegram_id
from tests.harness import OTHER_VILLAGE, VILLAGE, Harness, eventually


async def test_cadre_registers_with_invitation_code(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1001, "王芳", language_code="zh-hans")
    code = await harness.invitation("cadre", VILLAGE)
    await user.send_command("start", code)
    reply = await user.next_message()
    assert "王芳" in reply.content and "幸福村" in reply.content and "村干部" in reply.content
    async with harness.sessionmaker() as s:
        registered = await user_by_telegram_id(s, 1001)
        assert registered is not None
        assert (registered.role, registered.area_code, registered.language) == (
            "cadre",
            VILLAGE,
            "zh_CN",
        )
        assert await s.scalar(select(AuditEntry).limit(1)) is not None


async def test_english_client_registers_in_english(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1002, "Li", language_code="en-US")
    code = await harness.invitation("leader", VILLAGE)
    await user.send_command("start", code)
    reply = await user.next_message()
    assert "Welcome, Li" in reply.content and "team leader" in reply.content


async def test_used_invitation_is_refused_with_reason(harness: Harness) -> None:
    await harness.seed()
    code = await harness.invitation()
    first = harness.emulator.user(1003, "A", language_code="zh-hans")
    await first.send_command("start", code)
    await first.next_message()
    second = harness.emulator.user(1004, "B", language_code="zh-hans")
    await second.send_command("start", code)
    reply = await second.next_message()
    assert "已被使用" in reply.content


async def test_expired_invitation_is_refused_with_reason(harness: Harness) -> None:
    await harness.seed()
    code = await harness.invitation(ttl_days=1)
    harness.clock.advance(timedelta(days=2))
    user = harness.emulator.user(1005, "C", language_code="en")
    await user.send_command("start", code)
    reply = await user.next_message()
    assert "expired" in reply.content


async def test_unknown_code_is_refused(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1006, "D", language_code="zh-hans")
    await user.send_command("start", "NOPE2345")
    reply = await user.next_message()
    assert "邀请码无效" in reply.content


async def test_deep_link_with_lowercase_code_works(harness: Harness) -> None:
    await harness.seed()
    code = await harness.invitation()
    user = harness.emulator.user(1007, "E", language_code="zh-hans")
    await user.send_command("start", code.lower())
    reply = await user.next_message()
    assert "✅" in reply.content


async def test_user_without_invitation_sees_no_household(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1008, "F", language_code="zh-hans")
    for command in ("check", "households", "help"):
        await user.send_command(command)
        reply = await user.next_message()
        assert "邀请码" in reply.content
        assert "张建国" not in reply.content
    await user.send_text("张建国")
    reply = await user.next_message()
    assert "邀请码" in reply.content and not reply.buttons
    answer = await user.press(reply.message_id, f"1o:{harness.households['zhang']}")
    assert answer.text == "您还没有注册。"
    reply = await user.next_message()
    assert "张建国" not in reply.content


async def test_households_lists_only_own_village(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1009, "G", language_code="zh-hans")
    await harness.register(user)
    await user.send_command("households")
    reply = await user.next_message()
    assert "张建国" in reply.content and "王秀兰" in reply.content
    assert "赵大海" not in reply.content
    assert "尚未核查" in reply.content


async def test_leader_of_township_sees_both_villages(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1010, "H", language_code="zh-hans")
    await harness.register(user, "leader", "320705001")
    await user.send_command("households")
    reply = await user.next_message()
    assert "张建国" in reply.content and "赵大海" in reply.content


async def test_commands_are_registered_per_language(harness: Harness) -> None:
    chinese = dict(harness.emulator.commands())
    english = dict(harness.emulator.commands("en"))
    assert chinese["check"] == "入户核查"
    assert english["check"] == "Check a household"
    assert dict(harness.emulator.commands("zh"))["households"] == "本村农户"


async def test_language_switch_changes_replies(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1011, "I", language_code="zh-hans")
    await harness.register(user)
    await user.send_command("lang")
    menu = await user.next_message()
    await user.press(menu.message_id, menu.callback_data("English"))
    reply = await user.next_message()
    assert reply.content == "Language set to English."
    await user.send_command("households")
    reply = await user.next_message()
    assert "Households of your area" in reply.content


async def test_cadre_cannot_open_household_of_another_village(harness: Harness) -> None:
    households = await harness.seed()
    user = harness.emulator.user(1012, "J", language_code="zh-hans")
    await harness.register(user, "cadre", VILLAGE)
    await user.send_command("check")
    picker = await user.next_message()
    assert "赵大海" not in str(picker)
    await user.press(picker.message_id, f"1o:{households['other']}")
    reply = await user.next_message()
    assert "不在您的辖区" in reply.content
    assert await harness.cursor(1012) is None
    assert OTHER_VILLAGE != VILLAGE


async def test_english_cadre_gets_english_prompts_and_dates(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1013, "Tom", language_code="en")
    await harness.register(user)
    await user.send_command("check")
    picker = await user.next_message()
    assert "Which household are you checking?" in picker.content
    await user.press_button(lambda text: "王秀兰" in text)
    title = await user.next_message()
    assert title.content.startswith("📋 Check of household")
    prompt = await user.next_message()
    assert prompt.content.startswith("Part 1 of 10 · Household")
    assert any(text == "Home visit" for text, _ in prompt.buttons), prompt
    assert any(text == "⬅ Back" or text == "⏸ Pause" for text, _ in prompt.buttons)


async def test_user_who_blocks_then_unblocks_the_bot_gets_back_in(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(1014, "K", language_code="zh-hans")
    await harness.register(user)

    async def active() -> bool | None:
        async with harness.sessionmaker() as s:
            user = await user_by_telegram_id(s, 1014)
            return None if user is None else user.active

    user.block()
    await eventually(active, expected=False)
    user.unblock()
    await eventually(active, expected=True)
    await user.send_command("households")
    reply = await user.next_message()
    assert "张建国" in reply.content


async def test_help_lists_what_the_role_can_do(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(1015, "L", language_code="zh-hans")
    await harness.register(cadre)
    await cadre.send_command("help")
    text = (await cadre.next_message()).content
    assert "/problems" in text and "/export" not in text
    office = harness.emulator.user(1016, "M", language_code="zh-hans")
    await harness.register(office, "office", "320705")
    await office.send_command("help")
    text = (await office.next_message()).content
    assert "/import" in text and "/export" in text


async def test_each_person_gets_the_menu_of_their_role_and_language(harness: Harness) -> None:
    await harness.seed()
    office = harness.emulator.user(1017, "N", language_code="zh-hans")
    await harness.register(office, "office", "320705")
    menu = dict(harness.emulator.commands(scope="chat:1017"))
    assert menu["import"] == "导入花名册" and menu["export"] == "导出文件"
    cadre = harness.emulator.user(1018, "O", language_code="en")
    await harness.register(cadre)
    menu = dict(harness.emulator.commands(scope="chat:1018"))
    assert "import" not in menu and "export" not in menu
    assert menu["check"] == "Check a household"
    assert "web" not in menu  # no dashboard address here: /web would lead nowhere
