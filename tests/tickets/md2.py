"""A strict checker of Telegram MarkdownV2, for the tests: what Telegram's parser refuses
("Character '-' is reserved and must be escaped", "Can't find end of the entity") it refuses
too, and it returns the visible text so a test can check nothing was lost."""

from __future__ import annotations

RESERVED = set("_*[]()~`>#+-=|{}.!")
TELEGRAM_LIMIT = 4096


class MarkdownV2Error(AssertionError):
    pass


def check_markdown_v2(text: str) -> str:
    """The visible text of `text`; MarkdownV2Error at the first thing Telegram would refuse.

    Supports the entities pairscan may use (bold, italic, underline, strikethrough, spoiler,
    inline code, properly nested and non-empty) and refuses links, pre blocks and quotes."""
    if not text:
        raise MarkdownV2Error("message text is empty")
    visible: list[str] = []
    stack: list[tuple[str, int]] = []  # (marker, len(visible) when opened)
    in_code = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise MarkdownV2Error(f"a trailing backslash at offset {i}")
            nxt = text[i + 1]
            if not 1 <= ord(nxt) <= 126:
                raise MarkdownV2Error(f"backslash before {nxt!r} at offset {i}")
            visible.append(nxt)
            i += 2
            continue
        if in_code:
            if c == "`":
                in_code = _close(stack, "`", visible, i)
            else:
                visible.append(c)
            i += 1
            continue
        marker = None
        if c == "`":
            if text.startswith("```", i):
                raise MarkdownV2Error(f"a pre block at offset {i} (not used by pairscan)")
            marker = "`"
        elif c in "*~":
            marker = c
        elif c == "_":
            marker = "__" if text.startswith("__", i) else "_"
        elif c == "|" and text.startswith("||", i):
            marker = "||"
        elif c in RESERVED:
            raise MarkdownV2Error(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\' "
                f"(offset {i})"
            )
        if marker is None:
            visible.append(c)
            i += 1
            continue
        if stack and stack[-1][0] == marker:
            _close(stack, marker, visible, i)
        elif any(m == marker for m, _ in stack):
            raise MarkdownV2Error(f"entities cross at offset {i}")
        else:
            stack.append((marker, len(visible)))
            in_code = marker == "`"
        i += len(marker)
    if stack:
        raise MarkdownV2Error(f"Can't find end of the entity {stack[-1][0]!r}")
    if len("".join(visible).encode("utf-16-le")) // 2 > TELEGRAM_LIMIT:
        raise MarkdownV2Error("message is too long")
    return "".join(visible)


def _close(stack: list[tuple[str, int]], marker: str, visible: list[str], at: int) -> bool:
    opened_marker, opened_at = stack.pop()
    assert opened_marker == marker
    if opened_at == len(visible):
        raise MarkdownV2Error(f"an empty {marker!r} entity at offset {at}")
    return False
