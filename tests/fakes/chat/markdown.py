"""Telegram's MarkdownV2 parser, as the fake Bot API runs it on `parse_mode: MarkdownV2`.

A port of the rules in the Bot API docs ("MarkdownV2 style") in the order TDLib's
`parse_markdown_v2` applies them, working on UTF-8 bytes as the server does (byte offsets in
errors). It returns the plain text left after parsing (entities removed), or raises
`MarkdownV2Error` with Telegram's own wording:

- ``\\`` before any character with code 1..126 makes it literal, anywhere;
- outside entities each of ``_*[]()~`>#+-=|{}.!`` is reserved and starts or ends an entity
  (`*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`, `[text](url)`,
  `![emoji](tg://emoji?id=1)`, `` `code` ``, ```` ```pre``` ````), or is an error;
- inside `code` and `pre` only `` ` `` is reserved; inside a link's `(...)` only `)`;
- `>` at the start of a line opens a block quote (to the end of the line); `**>` an
  expandable one.
"""

from __future__ import annotations

from dataclasses import dataclass

RESERVED = b"_*[]()~`>#+-=|{}.!"
_CODE_RESERVED = b"`"
_LINE_CLOSED = {"pre", "code"}


class MarkdownV2Error(ValueError):
    """The text does not parse; `description` is what Telegram puts after
    "Bad Request: can't parse entities: "."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass
class _Open:
    kind: str  # bold, italic, underline, strike, spoiler, link, emoji, code, pre
    byte_offset: int
    text_offset: int


def _reserved_error(char: int) -> MarkdownV2Error:
    return MarkdownV2Error(
        f"Character '{chr(char)}' is reserved and must be escaped with the preceding '\\'"
    )


def parse_markdown_v2(text: str) -> str:
    """The plain text Telegram shows for MarkdownV2 `text`; raises `MarkdownV2Error`."""
    data = text.encode("utf-8")
    n = len(data)
    out = bytearray()
    stack: list[_Open] = []
    i = 0
    while i < n:
        c = data[i]
        if c == 0x5C and i + 1 < n and 0 < data[i + 1] <= 126:  # backslash escape
            out.append(data[i + 1])
            i += 2
            continue
        inside = stack[-1].kind if stack else None
        reserved = _CODE_RESERVED if inside in _LINE_CLOSED else RESERVED
        if c not in reserved:
            out.append(c)
            i += 1
            continue
        if inside is not None and _ends(inside, data, i):
            i = _close(stack.pop(), data, i)
            continue
        # A block quote: ">" (or "**>") at the start of a line, outside every entity.
        at_line_start = i == 0 or data[i - 1] == 0x0A
        if at_line_start and not stack:
            if c == ord(">"):
                i += 1
                continue
            if data[i : i + 3] == b"**>":
                i += 3
                continue
        kind, width = _opens(c, data, i)
        if kind is None:
            raise _reserved_error(c)
        stack.append(_Open(kind, i, len(out)))
        i = _skip_pre_header(data, i + 3) if kind == "pre" else i + width
    if stack:
        raise MarkdownV2Error(
            f"Can't find end of the entity starting at byte offset {stack[-1].byte_offset}"
        )
    return out.decode("utf-8")


def _ends(kind: str, data: bytes, i: int) -> bool:
    c = data[i]
    nxt = data[i + 1] if i + 1 < len(data) else 0
    if kind == "bold":
        return c == ord("*")
    if kind == "italic":
        return c == ord("_") and nxt != ord("_")
    if kind == "underline":
        return c == ord("_") and nxt == ord("_")
    if kind == "strike":
        return c == ord("~")
    if kind == "spoiler":
        return c == ord("|") and nxt == ord("|")
    if kind in ("link", "emoji"):
        return c == ord("]")
    if kind == "code":
        return c == ord("`")
    if kind == "pre":
        return data[i : i + 3] == b"```"
    return False


def _opens(c: int, data: bytes, i: int) -> tuple[str | None, int]:
    nxt = data[i + 1] if i + 1 < len(data) else 0
    if c == ord("_"):
        return ("underline", 2) if nxt == ord("_") else ("italic", 1)
    if c == ord("*"):
        return "bold", 1
    if c == ord("~"):
        return "strike", 1
    if c == ord("|"):
        return ("spoiler", 2) if nxt == ord("|") else (None, 0)
    if c == ord("["):
        return "link", 1
    if c == ord("!"):
        return ("emoji", 2) if nxt == ord("[") else (None, 0)
    if c == ord("`"):
        return ("pre", 3) if data[i : i + 3] == b"```" else ("code", 1)
    return None, 0


def _skip_pre_header(data: bytes, i: int) -> int:
    """After an opening ```: skip an optional language name and one line break."""
    n = len(data)
    end = i
    while end < n and data[end : end + 1] not in (b" ", b"\t", b"\n", b"\r", b"`"):
        end += 1
    if end != i and end < n and data[end] != ord("`"):
        i = end
    if i < n and data[i] in (0x0A, 0x0D):
        pair = data[i : i + 2]
        i += 2 if pair in (b"\r\n", b"\n\r") else 1
    return i


def _close(entity: _Open, data: bytes, i: int) -> int:
    """Consume the closing mark of `entity` at `i`; return the index after it."""
    n = len(data)
    if entity.kind in ("underline", "spoiler"):
        return i + 2
    if entity.kind == "pre":
        return i + 3
    if entity.kind in ("link", "emoji"):
        i += 1
        if i < n and data[i] == ord("("):
            url_start = i + 1
            i += 1
            while i < n and data[i] != ord(")"):
                i += 2 if data[i] == 0x5C and i + 1 < n and 0 < data[i + 1] <= 126 else 1
            if i >= n:
                raise MarkdownV2Error(f"Can't find end of a URL at byte offset {url_start}")
            return i + 1
        if entity.kind == "emoji":
            raise MarkdownV2Error(
                f"Custom emoji entity must contain a URL at byte offset {entity.byte_offset}"
            )
        return i
    return i + 1
