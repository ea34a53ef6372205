"""Rendering: a ticket a trader can act on from one line; Slack payloads within Block Kit's
limits; Telegram MarkdownV2 that Telegram's parser accepts, whatever the symbols, in parts
under 4096 characters."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rich.console import Console

from pairscan.market import parse_utc
from pairscan.notify import Message
from pairscan.tickets import (
    Ticket,
    build_paper_book,
    render_book_console,
    render_console,
    render_digest,
    render_plain,
    render_slack,
    render_telegram,
    to_message,
)
from tests.tickets.factories import make_ticket
from tests.tickets.md2 import MarkdownV2Error, check_markdown_v2

ADVERSARIAL = [
    "1000PEPE/USDT:USDT",
    "BTC-PERP",
    "A_B/USDT",
    "X.Y!/USDT",
    "(Z)/USDT",
    "[a]{b}/USDT",
    "*star*/USDT",
    "`tick`/USDT",
    "back\\slash/USDT",
    "a|b||c/USDT",
    "~t~#h+p=e>g/USDT",
    "C&D<E>/USDT",
    "🚀/USDT",
    "__u__/USDT",
]


def _tickets() -> list[Ticket]:
    out = []
    for y in ADVERSARIAL:
        for action in ("open_long", "open_short", "close"):
            out.append(make_ticket(action, y=y, x="ETH/BTC.x-1"))
            out.append(
                make_ticket(action, y="BTC/USDT", x=y, hedge_ratio=-0.25, z=None)
                if action == "close"
                else make_ticket(action, y="BTC/USDT", x=y)
            )
    return out


def _check_slack(payload: dict[str, Any]) -> list[str]:
    """The payload's mrkdwn texts, after checking every Block Kit limit."""
    json.dumps(payload)  # a webhook body
    assert isinstance(payload["text"], str)
    assert 0 < len(payload["text"]) <= 3000
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text"
    assert 0 < len(blocks[0]["text"]["text"]) <= 150
    texts = []
    for block in blocks[1:]:
        assert block["type"] == "section"
        if "fields" in block:
            assert 1 <= len(block["fields"]) <= 10
            for f in block["fields"]:
                assert f["type"] == "mrkdwn"
                assert 0 < len(f["text"]) <= 2000
                texts.append(f["text"])
        else:
            assert block["text"]["type"] == "mrkdwn"
            assert 0 < len(block["text"]["text"]) <= 3000
            texts.append(block["text"]["text"])
    return texts


def test_the_checker_accepts_what_telegram_does_and_refuses_the_rest() -> None:
    assert check_markdown_v2(r"*OPEN* z \-2\.31 `id\`x` \(a\)") == "OPEN z -2.31 id`x (a)"
    for bad in ("z -2", "1.5", "*open", "`code", "a_b", "(x)", "x!", "**", "trail\\", "*a _b* c_"):
        with pytest.raises(MarkdownV2Error):
            check_markdown_v2(bad)


def test_one_ticket_reads_as_one_line() -> None:
    assert render_plain(make_ticket()) == (
        "OPEN LONG spread ETH/USDT:USDT ~ BTC/USDT:USDT — z -2.31 (entry 2.0, exit 0.5, "
        "stop 4.0) — BUY 1.234 ETH/USDT:USDT (≈2,705 USDT @ 2,192.10), SELL 0.031 "
        "BTC/USDT:USDT (≈2,650 USDT @ 85,480.0) — hedge 0.98, half-life 14 bars, q 0.003 — "
        "1-day vol ≈ 41 USDT, VaR95 68, VaR99 96, gross 5,355, margin 5,355 — binanceusdm "
        f"bar 2026-05-15 23:00Z — id {make_ticket().id}"
    )


def test_a_close_says_what_it_closes_why_and_the_estimate() -> None:
    ticket = make_ticket(
        "close", closes="short", reason="stop", z=None, qty=(12000.0, 0.5), prices=(0.00001234, 3.5)
    )
    text = render_plain(ticket)
    assert text.startswith("CLOSE SHORT spread ETH/USDT:USDT ~ BTC/USDT:USDT (stop) — z n/a")
    assert "BUY 12000 ETH/USDT:USDT (≈0.15 USDT @ 0.0000123400)" in text
    assert "est. P&L +53.20 USDT before fees" in text
    visible = check_markdown_v2(render_telegram(ticket)[0])
    assert "est. P&L +53.20 USDT before fees" in visible


def test_telegram_texts_pass_a_strict_markdown_v2_parser_for_adversarial_symbols() -> None:
    for ticket in _tickets():
        parts = render_telegram(ticket)
        assert len(parts) == 1
        visible = check_markdown_v2(parts[0])
        for leg in ticket.legs:
            assert leg.symbol in visible
        assert ticket.id in visible


def test_slack_payloads_escape_and_keep_the_limits() -> None:
    for ticket in _tickets():
        payload = render_slack(ticket)
        texts = _check_slack(payload)
        body = "\n".join(texts)
        for leg in ticket.legs:
            escaped = leg.symbol.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert escaped in body
        assert "<" not in body.replace("&lt;", "")
        assert ">" not in body.replace("&gt;", "")
        assert payload["blocks"][0]["text"]["text"].startswith(("OPEN", "CLOSE"))


def test_absurdly_long_symbols_split_into_valid_parts_and_sections() -> None:
    y = "._(!" * 1500 + "/USDT"  # 6005 chars, every one reserved: 12,000+ escaped
    x = "Y" * 5000 + "/USDT"
    ticket = make_ticket(y=y, x=x)
    parts = render_telegram(ticket)
    assert len(parts) > 2
    visible = "".join(check_markdown_v2(p) for p in parts)
    assert y in visible.replace("\n", "")
    assert x in visible.replace("\n", "")
    payload = render_slack(ticket)
    texts = _check_slack(payload)
    assert len(payload["blocks"]) > 3
    assert y in "".join(texts).replace("\n", "")
    assert len(payload["blocks"][0]["text"]["text"]) == 150


def _big_book(n: int) -> Any:
    tickets = [
        make_ticket(
            y=f"C{i}_{i}.x/USDT", x="BTC/USDT", bar_ms=parse_utc("2026-05-01") + i * 3_600_000
        )
        for i in range(n)
    ]
    closes = {t.y_symbol: 2200.0 for t in tickets} | {"BTC/USDT": 85000.0}
    return build_paper_book(tickets, {t.id for t in tickets}, closes, fee_bps={"BTC/USDT": 5.0})


def test_the_digest_fits_every_channel() -> None:
    book = _big_book(3)
    changes = ["+ SOL/USDT ~ ETH/USDT (q 0.01)", "- DOGE/USDT ~ BTC/USDT (coint_broke)"]
    digest = render_digest(book, changes, parse_utc("2026-05-16T08:00"))
    assert isinstance(digest, Message)
    assert digest.plain.splitlines()[0] == "Paper book digest 2026-05-16 08:00Z"
    assert "open 3 · gross" in digest.plain
    assert "no fee rate for C0_0.x/USDT" in digest.plain  # the book's notes are shown
    assert all(c in digest.plain for c in changes)
    (part,) = digest.telegram
    visible = check_markdown_v2(part)
    assert "+ SOL/USDT ~ ETH/USDT (q 0.01)" in visible
    _check_slack(digest.slack)
    empty = render_digest(build_paper_book([], set(), {}), [], parse_utc("2026-05-16T08:00"))
    assert "Selection changes since the last digest: none" in empty.plain
    assert "Selection changes since the last digest: 2\n" in digest.plain  # counts its lines
    check_markdown_v2(empty.telegram[0])


def test_a_huge_digest_splits_and_is_capped_saying_so() -> None:
    book = _big_book(150)
    changes = [f"+ P{i}.x/USDT ~ Q{i}-y/USDT (q 0.0{i % 10})" for i in range(5000)]
    digest = render_digest(book, changes, parse_utc("2026-05-16T08:00"))
    assert len(digest.telegram) == 10
    for part in digest.telegram:
        check_markdown_v2(part)
    assert "more parts not sent" in check_markdown_v2(digest.telegram[-1])
    moderate = render_digest(_big_book(20), changes[:100], parse_utc("2026-05-16T08:00"))
    assert 1 < len(moderate.telegram) < 10
    visible = "\n".join(check_markdown_v2(p) for p in moderate.telegram)
    assert all(c in visible for c in changes[:100])
    texts = _check_slack(digest.slack)
    assert len(digest.slack["blocks"]) == 50
    assert "more sections not shown" in texts[-1]
    assert digest.plain.count("\n") > 5000  # the console gets everything


def test_console_tables_show_symbols_literally() -> None:
    tickets = [make_ticket(y="[bold]X[/bold]/USDT"), make_ticket("close", z=None)]
    console = Console(record=True, width=400, color_system=None)
    console.print(render_console(tickets))
    out = console.export_text()
    assert "[bold]X[/bold]/USDT" in out
    assert "BUY 1.234" in out
    assert "+53.20" in out
    console.print(render_book_console(_big_book(2)))
    assert "C1_1.x/USDT ~ BTC/USDT" in console.export_text()


def test_to_message_is_the_three_forms() -> None:
    ticket = make_ticket()
    message = to_message(ticket)
    assert message == Message(
        slack=render_slack(ticket), telegram=render_telegram(ticket), plain=render_plain(ticket)
    )
    assert {f.name for f in dataclasses.fields(message)} == {"plain", "slack", "telegram"}
