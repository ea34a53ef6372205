"""The fake's MarkdownV2 parser (a table of accepted and rejected texts, with Telegram's error
wording) and `escape_markdown_v2` (any escaped text parses back to itself)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pairscan.notify import escape_markdown_v2
from tests.fakes.chat import RESERVED, MarkdownV2Error, parse_markdown_v2

# Any Unicode text that can be sent as UTF-8 (surrogates cannot).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
RESERVED_CHARS = RESERVED.decode()


def reserved(char: str) -> str:
    return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"


ACCEPTED = [
    ("plain words", "plain words"),
    ("*bold* and `code`", "bold and code"),
    (r"*ETH/BTC* z \-2\.31, hedge `1\.042`", "ETH/BTC z -2.31, hedge 1.042"),
    (r"escaped \_ \* \[ \] \( \) \~ \` \> \# \+ \- \= \| \{ \} \. \! \\", None),
    ("_italic_ __underline__ ~strike~ ||spoiler||", "italic underline strike spoiler"),
    ("*bold _italic bold_ bold*", "bold italic bold bold"),
    ("[link](https://example.com/a_b)", "link"),
    (r"[link](https://example.com/a\)b)", "link"),
    ("![👍](tg://emoji?id=5368324170671202286)", "👍"),
    ("`code with * and _ and .`", "code with * and _ and ."),
    (r"`code \` tick`", "code ` tick"),
    ("```python\nprint(1 + 2)\n```", "print(1 + 2)\n"),
    ("```\nraw . - ! text\n```", "raw . - ! text\n"),
    (">a quote line", "a quote line"),
    ("line\n>quoted second line", "line\nquoted second line"),
    ("no reserved: % $ @ & < / ' \" ^ ?", "no reserved: % $ @ & < / ' \" ^ ?"),
    ("trailing backslash \\", "trailing backslash \\"),
    ("backslash before accent \\é", "backslash before accent \\é"),
    ("unicode ✓ €", "unicode ✓ €"),
]

REJECTED = [
    ("z-score", reserved("-")),
    ("price 2.5", reserved(".")),
    ("done!", reserved("!")),
    ("(ETH/BTC)", reserved("(")),
    ("a=b", reserved("=")),
    ("+1", reserved("+")),
    ("#tag", reserved("#")),
    ("{x}", reserved("{")),
    ("a|b", reserved("|")),
    ("a > b", reserved(">")),
    ("*bold* then 1.5", reserved(".")),
    ("*bold 1.5*", reserved(".")),
    ("_unclosed", "Can't find end of the entity starting at byte offset 0"),
    ("ok *unclosed bold", "Can't find end of the entity starting at byte offset 3"),
    ("é *x", "Can't find end of the entity starting at byte offset 3"),  # bytes, not chars
    ("`unclosed code", "Can't find end of the entity starting at byte offset 0"),
    ("[text](https://x.com", "Can't find end of a URL at byte offset 7"),
    ("escaped \\*then *bold", "Can't find end of the entity starting at byte offset 15"),
    ("\\\\. one backslash escaped, dot not", reserved(".")),
]


@pytest.mark.parametrize(("text", "shown"), ACCEPTED)
def test_accepted(text: str, shown: str | None) -> None:
    result = parse_markdown_v2(text)
    if shown is not None:
        assert result == shown


def test_escaped_reserved_characters_show_as_themselves() -> None:
    text = "".join("\\" + c for c in RESERVED_CHARS + "\\")
    assert parse_markdown_v2(text) == RESERVED_CHARS + "\\"


@pytest.mark.parametrize(("text", "description"), REJECTED)
def test_rejected(text: str, description: str) -> None:
    with pytest.raises(MarkdownV2Error) as caught:
        parse_markdown_v2(text)
    assert caught.value.description == description


@pytest.mark.parametrize("char", list(RESERVED_CHARS))
def test_every_reserved_character_alone_in_text_is_rejected_or_opens_an_entity(char: str) -> None:
    with pytest.raises(MarkdownV2Error):
        parse_markdown_v2(f"a {char} b")


def test_escape_example_from_the_docs() -> None:
    text = "z-score 2.5 (ETH/BTC) funding=+0.01% [x]!"
    assert escape_markdown_v2(text) == r"z\-score 2\.5 \(ETH/BTC\) funding\=\+0\.01% \[x\]\!"


def test_escape_escapes_every_reserved_character_and_backslash() -> None:
    for char in RESERVED_CHARS + "\\":
        assert escape_markdown_v2(char) == "\\" + char
    assert escape_markdown_v2("abc 123 é%") == "abc 123 é%"


@given(TEXT)
def test_escaped_text_parses_back_to_itself(text: str) -> None:
    assert parse_markdown_v2(escape_markdown_v2(text)) == text


@given(TEXT.filter(str.strip), TEXT)
def test_escaped_text_inside_bold_and_code_parses(bold: str, code: str) -> None:
    text = f"*{escape_markdown_v2(bold)}* `{escape_markdown_v2(code)}` end"
    assert parse_markdown_v2(text) == f"{bold} {code} end"
