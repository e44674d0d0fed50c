"""Message text as Telegram receives it: HTML parse mode, entities, whitespace and limits.

HTML is checked with the standard library's `html.parser`, as strictly as Telegram: only the
supported tags, every tag closed in order, `<` and `&` escaped. Entity offsets and lengths are
counted in UTF-16 code units, like Telegram's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from bot.emulator.errors import bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024

Entity = dict[str, object]

_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass(frozen=True)
class FormattedText:
    """Plain text and the entities that format it."""

    text: str
    entities: tuple[Entity, ...] = ()


class EntityParseError(ValueError):
    """HTML that Telegram would refuse; the message follows Telegram's wording."""


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    tag: str
    entity: Entity | None
    offset: int
    extra: dict[str, str] = field(default_factory=dict)


class _TelegramHtml(HTMLParser):
    """Collects text and entities; raises EntityParseError on anything Telegram refuses."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self._source = source
        self._line_starts = _line_starts(source)
        self._parts: list[str] = []
        self._position = 0
        self._open: list[_OpenTag] = []
        self.entities: list[Entity] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        return len(self._source[: self._line_starts[line - 1] + column].encode("utf-8"))

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._position += utf16_length(text)

    def handle_data(self, data: str) -> None:
        for char, what in (("<", "Unexpected < symbol"), ("&", "Unexpected & symbol")):
            if char in data:
                offset = self._byte_offset() + len(data[: data.index(char)].encode("utf-8"))
                raise EntityParseError(f"{what} at byte offset {offset}")
        self._append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _NAMED_ENTITIES:
            raise EntityParseError(
                f'Unsupported HTML entity "&{name};" at byte offset {self._byte_offset()}'
            )
        self._append(_NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self._append(chr(code))
        except (ValueError, OverflowError):
            raise EntityParseError(
                f"Invalid character reference at byte offset {self._byte_offset()}"
            ) from None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self._open.append(_OpenTag(tag, self._entity_for(tag, values), self._position, values))

    def _entity_for(self, tag: str, attrs: dict[str, str]) -> Entity | None:
        if tag in _SIMPLE_TAGS:
            return {"type": _SIMPLE_TAGS[tag]}
        if tag == "span":
            if attrs.get("class") != "tg-spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}'
                )
            return {"type": "spoiler"}
        if tag == "a":
            href = attrs.get("href", "")
            return {"type": "text_link", "url": href} if href else None
        if tag == "blockquote":
            return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
        if tag == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id:
                raise EntityParseError(
                    f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                    f"{self._byte_offset()}"
                )
            return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
        )

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
        )

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise EntityParseError(
                f'Unexpected end tag "</{tag}>" at byte offset {self._byte_offset()}'
            )
        top = self._open.pop()
        if top.tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{top.tag}>", '
                f'found "</{tag}>"'
            )
        self._close(top)

    def _close(self, top: _OpenTag) -> None:
        length = self._position - top.offset
        if top.entity is None or length == 0:
            return
        language = top.extra.get("class", "").removeprefix("language-")
        if top.tag == "code" and self._open and self._open[-1].tag == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            if language and self._open[-1].entity is not None:
                self._open[-1].entity["language"] = language
            return
        self.entities.append({**top.entity, "offset": top.offset, "length": length})

    def handle_comment(self, data: str) -> None:
        raise EntityParseError(f"Unsupported comment at byte offset {self._byte_offset()}")

    def handle_decl(self, decl: str) -> None:
        raise EntityParseError(f"Unsupported declaration at byte offset {self._byte_offset()}")

    def unknown_decl(self, data: str) -> None:
        self.handle_decl(data)

    def handle_pi(self, data: str) -> None:
        raise EntityParseError(
            f"Unsupported processing instruction at byte offset {self._byte_offset()}"
        )

    def finish(self) -> None:
        # html.parser holds back a trailing "&T" or "<b" and would pass it off as text.
        rest = self.rawdata
        if rest[:1] in ("&", "<"):
            offset = len(self._source.encode("utf-8")) - len(rest.encode("utf-8"))
            raise EntityParseError(f"Unexpected {rest[0]} symbol at byte offset {offset}")
        self.close()
        if self._open:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self._open[-1].tag}"'
            )


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(source):
        if char == "\n":
            starts.append(index + 1)
    return starts


def parse_html(source: str) -> FormattedText:
    """Text and entities of an HTML-formatted message; raises EntityParseError."""
    parser = _TelegramHtml(source)
    parser.feed(source)
    parser.finish()
    entities = sorted(parser.entities, key=lambda e: (_int(e["offset"]), -_int(e["length"])))
    return FormattedText(parser.text, tuple(entities))


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def trimmed(formatted: FormattedText) -> FormattedText:
    """Leading and trailing whitespace removed, entities moved and clipped to match."""
    text = formatted.text.strip()
    if text == formatted.text:
        return formatted
    shift = utf16_length(formatted.text[: len(formatted.text) - len(formatted.text.lstrip())])
    end = utf16_length(text)
    entities: list[Entity] = []
    for entity in formatted.entities:
        start = max(_int(entity["offset"]) - shift, 0)
        stop = min(_int(entity["offset"]) + _int(entity["length"]) - shift, end)
        if stop > start:
            entities.append({**entity, "offset": start, "length": stop - start})
    return FormattedText(text, tuple(entities))


def formatted(text: str, parse_mode: str | None, entities: object) -> FormattedText:
    """The text Telegram would store, or the Bad Request it would answer."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            return trimmed(parse_html(text))
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    if mode in ("markdown", "markdownv2"):
        # The bot sends HTML; a Markdown parser is not worth having here.
        return trimmed(FormattedText(text))
    if mode not in ("", "none"):
        raise bad_request("unsupported parse_mode")
    return trimmed(FormattedText(text, _given_entities(entities)))


def _given_entities(entities: object) -> tuple[Entity, ...]:
    if entities is None:
        return ()
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise bad_request("can't parse entities JSON object")
    for entity in entities:
        if not isinstance(entity.get("offset"), int) or not isinstance(entity.get("length"), int):
            raise bad_request('can\'t parse MessageEntity: field "offset" must be a number')
    return tuple(entities)


def message_text(text: str, parse_mode: str | None, entities: object) -> FormattedText:
    """A message's text after parsing, checked to be 1-4096 characters."""
    result = formatted(text, parse_mode, entities)
    if not result.text:
        raise bad_request("message text is empty")
    if len(result.text) > MAX_TEXT:
        raise bad_request("message is too long")
    return result


def caption_text(caption: str | None, parse_mode: str | None, entities: object) -> FormattedText:
    """A media caption after parsing, checked to be at most 1024 characters (may be empty)."""
    if not caption:
        return FormattedText("")
    result = formatted(caption, parse_mode, entities)
    if len(result.text) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return result


def command_text(command: str, args: str | None) -> FormattedText:
    """`/command args` with its bot_command entity, as a Telegram client sends it."""
    head = f"/{command}"
    text = f"{head} {args}" if args else head
    return FormattedText(text, ({"type": "bot_command", "offset": 0, "length": len(head)},))
