"""The command menu (set_my_commands): per language by default, and per person once they
are registered, so that leaders and offices see the commands of their role."""

from __future__ import annotations

from telegram import Bot, BotCommand, BotCommandScopeChat

from bot.i18n import Translator


def commands(lang: str, t: Translator, role: str = "cadre", web: bool = False) -> list[BotCommand]:
    """The menu of a role; `web` when the dashboard has a public address (/web gives a link)."""
    menu = [
        BotCommand("check", t(lang, "Check a household")),
        BotCommand(
            "households",
            t(lang, "Households of my village")
            if role == "cadre"
            else t(lang, "Households of my area"),
        ),
        BotCommand("problems", t(lang, "Problems to rectify")),
        BotCommand("progress", t(lang, "Progress this period")),
        BotCommand("cases", t(lang, "Monitoring cases")),
    ]
    if role in ("leader", "office"):
        menu.append(BotCommand("export", t(lang, "Export a file")))
    if role == "office":
        menu.append(BotCommand("import", t(lang, "Import a roster")))
        menu.append(BotCommand("campaign", t(lang, "Campaigns of my area")))
    if web:
        menu.append(BotCommand("web", t(lang, "Open the dashboard in a browser")))
    menu += [
        BotCommand("cancel", t(lang, "Pause the current check")),
        BotCommand("lang", t(lang, "Change the language")),
        BotCommand("help", t(lang, "Help")),
    ]
    return menu


async def set_menu_for(
    bot: Bot, chat_id: int, role: str, lang: str, t: Translator, web: bool = False
) -> None:
    """This person's menu, in their language and for their role."""
    await bot.set_my_commands(commands(lang, t, role, web), scope=BotCommandScopeChat(chat_id))
