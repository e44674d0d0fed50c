"""Bot API methods that send, edit and delete messages, answer buttons and serve files.

Each method checks its parameters the way Telegram does and changes the emulated world.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.emulator.errors import bad_request, forbidden
from bot.emulator.formatting import FormattedText, caption_text, message_text
from bot.emulator.markup import ReplyMarkup, inline_keyboard_of, parse_reply_markup
from bot.emulator.params import Params, Upload
from bot.emulator.transcript import CallbackAnswer, SentDocument
from bot.emulator.world import JsonObject, PrivateChat, StoredFile, World

Handler = Callable[[Params], Awaitable[Any]]

MAX_CALLBACK_ANSWER = 200

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"

# Sizes Telegram would make of an uploaded photo; the emulator keeps the bytes as they are.
PHOTO_SIZES = ((90, 68), (800, 600))


def chat_id_of(params: Params, name: str = "chat_id") -> int | None:
    """The numeric chat id; @usernames and other text name no chat the emulator knows."""
    value = params.string(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def text_fields(formatted: FormattedText, key: str = "text") -> JsonObject:
    """`text`/`caption` and its entities, as in a Message object."""
    if not formatted.text:
        return {}
    fields: JsonObject = {key: formatted.text}
    if formatted.entities:
        fields["entities" if key == "text" else "caption_entities"] = list(formatted.entities)
    return fields


def photo_sizes(files: list[StoredFile]) -> list[JsonObject]:
    """PhotoSize objects, smallest first."""
    return [
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": len(stored.content),
        }
        for stored, (width, height) in zip(files, PHOTO_SIZES, strict=True)
    ]


def document_object(stored: StoredFile) -> JsonObject:
    """A Document object."""
    document: JsonObject = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.content),
    }
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


class Messaging:
    """sendMessage and its kin, over one emulated world."""

    def __init__(self, world: World) -> None:
        self._world = world

    def handlers(self) -> dict[str, Handler]:
        return {
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "sendChatAction": self.send_chat_action,
            "getFile": self.get_file,
            "getChat": self.get_chat,
        }

    # Sending

    async def send_message(self, params: Params) -> JsonObject:
        text = message_text(
            params.string("text") or "",
            params.string("parse_mode"),
            params.json("entities", "entities"),
        )
        return self._send(params, text_fields(text))

    async def send_photo(self, params: Params) -> JsonObject:
        caption = self._caption(params)
        photo = params.upload("photo")
        if isinstance(photo, Upload):
            first = self._world.files.add(photo.content, "photos", None, "image/jpeg")
            sizes = [first, self._world.files.add(photo.content, "photos", None, "image/jpeg")]
        else:
            stored = self._existing_file(photo)
            sizes = [stored, stored]
        return self._send(params, {"photo": photo_sizes(sizes), **text_fields(caption, "caption")})

    async def send_document(self, params: Params) -> JsonObject:
        caption = self._caption(params)
        document = params.upload("document")
        if isinstance(document, Upload):
            stored = self._world.files.add(
                document.content, "documents", document.filename, document.content_type
            )
        else:
            stored = self._existing_file(document)
        message = self._send(
            params, {"document": document_object(stored), **text_fields(caption, "caption")}
        )
        self._world.documents.append(
            SentDocument(
                chat_id=int(message["chat"]["id"]),
                filename=stored.file_name or stored.file_path.rsplit("/", 1)[-1],
                content=stored.content,
                caption=caption.text or None,
            )
        )
        return message

    async def send_chat_action(self, params: Params) -> bool:
        action = params.string("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat = self._world.chat_for_bot(chat_id_of(params), sending=True)
        chat.actions.append(action)
        return True

    def _caption(self, params: Params) -> FormattedText:
        return caption_text(
            params.string("caption"),
            params.string("parse_mode"),
            params.json("caption_entities", "caption entities"),
        )

    def _existing_file(self, reference: str | None) -> StoredFile:
        stored = self._world.files.by_id(reference) if reference else None
        if stored is None and reference and reference.startswith(("http://", "https://")):
            # The emulator does not fetch URLs; it stands in an empty file for one.
            name = reference.rsplit("/", 1)[-1] or None
            stored = self._world.files.add(b"", "documents", name)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored

    def _send(self, params: Params, content: JsonObject) -> JsonObject:
        markup = parse_reply_markup(params.json("reply_markup", "reply keyboard markup"))
        chat = self._world.chat_for_bot(chat_id_of(params), sending=True)
        content = {**self._reply_to(params, chat), **content}
        inline = inline_keyboard_of(markup)
        if inline is not None:
            content["reply_markup"] = inline
        keyboard = self._apply_keyboard(chat, markup)
        return self._world.bot_message(chat, content, keyboard)

    @staticmethod
    def _apply_keyboard(chat: PrivateChat, markup: ReplyMarkup | None) -> JsonObject | None:
        if markup is None:
            return None
        if markup.kind == "keyboard":
            chat.keyboard = markup.value
            return markup.value
        if markup.kind == "remove":
            chat.keyboard = None
        return None

    @staticmethod
    def _reply_to(params: Params, chat: PrivateChat) -> JsonObject:
        reply = params.json("reply_parameters", "reply parameters")
        allow_missing = params.flag("allow_sending_without_reply")
        message_id: object = params.integer("reply_to_message_id")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        elif reply is not None:
            raise bad_request("can't parse reply parameters JSON object")
        if message_id is None:
            return {}
        target = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None:
            if allow_missing:
                return {}
            raise bad_request("message to be replied not found")
        return {"reply_to_message": {k: v for k, v in target.items() if k != "reply_to_message"}}

    # Editing and deleting

    async def edit_message_text(self, params: Params) -> JsonObject:
        chat, message = self._message_to_edit(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text = message_text(
            params.string("text") or "",
            params.string("parse_mode"),
            params.json("entities", "entities"),
        )
        inline = self._edit_markup(params)
        if (
            message["text"] == text.text
            and message.get("entities", []) == list(text.entities)
            and message.get("reply_markup") == inline
        ):
            raise bad_request(NOT_MODIFIED)
        for key in ("text", "entities", "reply_markup"):
            message.pop(key, None)
        message.update(text_fields(text))
        if inline is not None:
            message["reply_markup"] = inline
        return self._world.edited(chat, int(message["message_id"]))

    async def edit_message_reply_markup(self, params: Params) -> JsonObject:
        chat, message = self._message_to_edit(params)
        inline = self._edit_markup(params)
        if message.get("reply_markup") == inline:
            raise bad_request(NOT_MODIFIED)
        message.pop("reply_markup", None)
        if inline is not None:
            message["reply_markup"] = inline
        return self._world.edited(chat, int(message["message_id"]))

    @staticmethod
    def _edit_markup(params: Params) -> JsonObject | None:
        markup = parse_reply_markup(params.json("reply_markup", "reply keyboard markup"))
        if markup is not None and markup.kind != "inline":
            raise bad_request("inline keyboard expected")
        return inline_keyboard_of(markup)

    def _message_to_edit(self, params: Params) -> tuple[PrivateChat, JsonObject]:
        if params.has("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        message_id = params.integer("message_id")
        if not params.has("chat_id") or message_id is None:
            raise bad_request("message identifier is not specified")
        chat = self._world.chat_for_bot(chat_id_of(params), sending=False)
        if chat.blocked:
            raise forbidden("bot was blocked by the user")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message_id not in chat.bot_message_ids:
            raise bad_request("message can't be edited")
        return chat, message

    async def delete_message(self, params: Params) -> bool:
        chat = self._world.chat_for_bot(chat_id_of(params), sending=False)
        message_id = params.integer("message_id")
        if message_id is None or message_id not in chat.messages:
            raise bad_request("message to delete not found")
        del chat.messages[message_id]
        chat.bot_message_ids.discard(message_id)
        chat.edited_ids.discard(message_id)
        chat.keyboards.pop(message_id, None)
        return True

    # Buttons

    async def answer_callback_query(self, params: Params) -> bool:
        query_id = params.string("callback_query_id") or ""
        text = params.string("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        pending = self._world.callbacks.pop(query_id, None)
        if pending is None:
            raise bad_request(QUERY_TOO_OLD)
        if not pending.answer.done():
            pending.answer.set_result(
                CallbackAnswer(
                    text=text,
                    show_alert=params.flag("show_alert"),
                    url=params.string("url"),
                    cache_time=params.integer("cache_time") or 0,
                )
            )
        return True

    # Files and chats

    async def get_file(self, params: Params) -> JsonObject:
        stored = self._world.files.by_id(params.string("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return stored.as_file()

    async def get_chat(self, params: Params) -> JsonObject:
        chat = self._world.chat_for_bot(chat_id_of(params), sending=False)
        return {
            **chat.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }
