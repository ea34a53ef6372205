"""Stage 6 (tickets): a ticket or the daily paper-book digest as a console table, one plain
line, a Slack webhook payload and Telegram MarkdownV2 messages, each within its channel's
limits. Pure: strings and dicts out; sending belongs to `pairscan.notify`.

Over 400 lines on purpose: the ticket and the digest share one line model (`_line`) and one
packer into each channel's limits; split apart, those internals would become a public API.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from rich.table import Table
from rich.text import Text

from pairscan.market import format_utc
from pairscan.notify.message import Message, escape_markdown_v2
from pairscan.tickets.book import BookPosition, PaperBook
from pairscan.tickets.model import Leg, Ticket

__all__ = [
    "SLACK_FIELD_LIMIT",
    "SLACK_HEADER_LIMIT",
    "SLACK_MAX_BLOCKS",
    "SLACK_SECTION_LIMIT",
    "TELEGRAM_LIMIT",
    "TELEGRAM_PART_LIMIT",
    "md2_code_escape",
    "render_book_console",
    "render_console",
    "render_digest",
    "render_plain",
    "render_slack",
    "render_telegram",
    "slack_escape",
    "telegram_length",
    "to_message",
]

# Slack (Block Kit docs): a section's text and the fallback `text` at most 3000 characters,
# at most 10 fields of 2000, a plain_text header at most 150, at most 50 blocks.
SLACK_SECTION_LIMIT: Final = 3000
SLACK_FIELD_LIMIT: Final = 2000
SLACK_MAX_FIELDS: Final = 10
SLACK_HEADER_LIMIT: Final = 150
SLACK_MAX_BLOCKS: Final = 50
# Telegram: 1..4096 characters after entity parsing, counted in UTF-16 code units. Parts are
# cut at 4000 units of *source* text (escapes included), which is never shorter than what
# Telegram counts, so every part fits with a margin.
TELEGRAM_LIMIT: Final = 4096
TELEGRAM_PART_LIMIT: Final = 4000
DIGEST_MAX_TELEGRAM_PARTS: Final = 10

_MD2_CODE = re.compile(r"([\\`])")
_ELLIPSIS = "…"


def md2_code_escape(text: str) -> str:
    """Text inside a MarkdownV2 `code` entity: only ` and backslash are escaped."""
    return _MD2_CODE.sub(r"\\\1", text)


def slack_escape(text: str) -> str:
    """Text for Slack mrkdwn: exactly &, < and > become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji beyond the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# -- a message as lines of styled segments, rendered per channel -------------------------------

# A segment is (style, text): style "" plain, "b" bold, "c" code. A line's entities never span
# lines, so cutting a message between lines always leaves valid markup on both sides.
_Segment = tuple[str, str]
_Line = tuple[_Segment, ...]


def _line(*segments: _Segment | str) -> _Line:
    styled = (("", s) if isinstance(s, str) else s for s in segments)
    return tuple(segment for segment in styled if segment[1])


def _raw(line: _Line) -> str:
    return "".join(text for _, text in line)


def _md2_line(line: _Line) -> str:
    out = []
    for style, text in line:
        if style == "b":
            out.append(f"*{escape_markdown_v2(text)}*")
        elif style == "c":
            out.append(f"`{md2_code_escape(text)}`")
        else:
            out.append(escape_markdown_v2(text))
    return "".join(out)


def _slack_line(line: _Line) -> str:
    out = []
    for style, text in line:
        escaped = slack_escape(text)
        if style == "b" and "*" not in text:
            out.append(f"*{escaped}*")
        elif style == "c" and "`" not in text:
            out.append(f"`{escaped}`")
        else:
            out.append(escaped)
    return "".join(out)


def _split_raw(
    text: str, escape: Callable[[str], str], limit: int, measure: Callable[[str], int]
) -> list[str]:
    """`text` cut into pieces whose escaped form measures at most `limit`; cut before
    escaping, so no cut separates an escape from its character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        cost = measure(escape(char))
        if current and size + cost > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += cost
    if current:
        pieces.append("".join(current))
    return pieces


def _pack(
    lines: Iterable[_Line],
    render: Callable[[_Line], str],
    escape: Callable[[str], str],
    limit: int,
    measure: Callable[[str], int] = len,
) -> list[str]:
    """The rendered lines joined by newlines into as few chunks of at most `limit` as the
    line boundaries allow. A line longer than `limit` on its own is sent as plain escaped
    text, cut where needed (only absurd symbols get there)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        text = render(line)
        if measure(text) <= limit:
            pieces = [text]
        else:
            pieces = [escape(p) for p in _split_raw(_raw(line), escape, limit, measure)]
        for piece in pieces:
            cost = measure(piece) + (1 if current else 0)
            if current and size + cost > limit:
                chunks.append("\n".join(current))
                current, size = [], 0
                cost = measure(piece)
            current.append(piece)
            size += cost
    if current:
        chunks.append("\n".join(current))
    return [chunk for chunk in chunks if chunk.strip()]


def _telegram(lines: Sequence[_Line], max_parts: int | None = None) -> tuple[str, ...]:
    parts = _pack(lines, _md2_line, escape_markdown_v2, TELEGRAM_PART_LIMIT, telegram_length)
    if max_parts is not None and len(parts) > max_parts:
        left = len(parts) - max_parts + 1
        note = f"{_ELLIPSIS} {left} more parts not sent: see the run summary"  # left >= 2
        parts = [*parts[: max_parts - 1], escape_markdown_v2(note)]
    return tuple(parts)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _slack_text(text: str, limit: int) -> str:
    """Escaped text of at most `limit` characters (cut before escaping, marked with …)."""
    escaped = slack_escape(text)
    if len(escaped) <= limit:
        return escaped
    head = _split_raw(text, slack_escape, limit - 1, len)[0]
    return slack_escape(head) + _ELLIPSIS


def _slack_payload(
    fallback: str,
    header: str,
    lines: Sequence[_Line],
    fields: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A webhook payload: the `text` fallback, a header, a section of fields (label, value)
    and the lines packed into sections, within every Block Kit limit."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(header, SLACK_HEADER_LIMIT)},
        }
    ]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": f"*{slack_escape(label)}*\n"
                        + _slack_text(value, SLACK_FIELD_LIMIT - len(slack_escape(label)) - 3),
                    }
                    for label, value in fields[:SLACK_MAX_FIELDS]
                ],
            }
        )
    sections = _pack(lines, _slack_line, slack_escape, SLACK_SECTION_LIMIT)
    room = SLACK_MAX_BLOCKS - len(blocks)
    if len(sections) > room:
        left = len(sections) - room + 1
        sections = [
            *sections[: room - 1],
            slack_escape(f"{_ELLIPSIS} {left} more sections not shown: see the run summary"),
        ]
    blocks.extend({"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections)
    return {"text": _slack_text(fallback, SLACK_SECTION_LIMIT), "blocks": blocks}


# -- number formats ----------------------------------------------------------------------------


def _qty(qty: float) -> str:
    """A lot-rounded quantity as it is (no further rounding): `1.234`, `0.031`, `12000`."""
    return f"{qty:.10g}"


def _money(value: float) -> str:
    """`2,705`, `41`, `5.30`, `-0.25`: whole units from 10 up, cents below."""
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.2f}"


def _pnl(value: float) -> str:
    """Signed: `+53.20`, `-1,234`."""
    return f"{value:+,.0f}" if abs(value) >= 1000 else f"{value:+,.2f}"


def _price(price: float) -> str:
    """Six significant digits with separators: `2,192.10`, `85,480.0`, `0.00123400`."""
    if price == 0.0 or not math.isfinite(price):
        return f"{price:g}"
    digits = math.floor(math.log10(abs(price))) + 1
    return f"{price:,.{max(0, min(12, 6 - digits))}f}"


def _level(value: float) -> str:
    """A threshold as configured: `2.0`, `0.5`, `2.25`."""
    text = f"{value:.6g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _z(z: float | None) -> str:
    return "n/a" if z is None else f"{z:.2f}"


def _half_life(bars: float | None) -> str:
    return "n/a" if bars is None else f"{bars:.3g} bars"


def _qvalue(q: float | None) -> str:
    return "n/a" if q is None else f"{q:.2g}"


# -- one ticket --------------------------------------------------------------------------------


def _headline(ticket: Ticket) -> str:
    verb = "CLOSE" if ticket.is_close else "OPEN"
    return f"{verb} {ticket.direction.upper()} spread"


def _pair(y: str, x: str) -> str:
    return f"{y} ~ {x}"


def _leg_text(leg: Leg, quote: str) -> str:
    return (
        f"{leg.side.upper()} {_qty(leg.qty)} {leg.symbol} "
        f"(≈{_money(leg.notional_quote)} {quote} @ {_price(leg.ref_price)})"
    )


def _levels(ticket: Ticket) -> str:
    return (
        f"z {_z(ticket.z)} (entry {_level(ticket.entry_z)}, exit {_level(ticket.exit_z)}, "
        f"stop {_level(ticket.stop_z)})"
    )


def _stats(ticket: Ticket) -> str:
    return (
        f"hedge {ticket.hedge_ratio:.3g}, half-life {_half_life(ticket.half_life_bars)}, "
        f"q {_qvalue(ticket.qvalue)}"
    )


def _risk(ticket: Ticket) -> str:
    return (
        f"1-day vol ≈ {_money(ticket.daily_vol_quote)} {ticket.quote}, "
        f"VaR95 {_money(ticket.var95_quote)}, VaR99 {_money(ticket.var99_quote)}, "
        f"gross {_money(ticket.gross_quote)}, margin {_money(ticket.margin_quote)}"
    )


def _pnl_estimate(ticket: Ticket) -> str | None:
    if ticket.pnl_estimate_quote is None:
        return None
    return f"est. P&L {_pnl(ticket.pnl_estimate_quote)} {ticket.quote} before fees"


def _title(ticket: Ticket) -> str:
    reason = f" ({ticket.reason})" if ticket.is_close else ""
    return f"{_headline(ticket)} {_pair(ticket.y_symbol, ticket.x_symbol)}{reason}"


def render_plain(ticket: Ticket) -> str:
    """The ticket on one line, for the console and logs, e.g.
    `OPEN LONG spread ETH/USDT:USDT ~ BTC/USDT:USDT — z -2.31 (entry 2.0, exit 0.5, stop 4.0)
    — BUY 1.234 ETH/USDT:USDT (≈2,705 USDT @ 2,192.10), SELL 0.031 BTC/USDT:USDT (≈2,650 USDT
    @ 85,480.0) — hedge 0.98, half-life 14 bars, q 0.003 — 1-day vol ≈ 41 USDT, VaR95 68,
    VaR99 96, gross 5,355, margin 5,355 — binance bar 2026-05-15 23:00Z — id 3f2a...`."""
    parts = [
        _title(ticket),
        _levels(ticket),
        ", ".join(_leg_text(leg, ticket.quote) for leg in ticket.legs),
        _pnl_estimate(ticket),
        _stats(ticket),
        _risk(ticket),
        f"{ticket.exchange} bar {format_utc(ticket.bar_ms)}",
        f"id {ticket.id}",
    ]
    return " — ".join(p for p in parts if p)


# Close reasons a reader must act on differently: the position is closed because a leg no
# longer trades, at the last price that really traded, not because the spread reverted.
_LEG_GONE = {
    "data_stale": "a leg has had no new candle for signals.stale_bars bars; prices are its "
    "last real close",
    "delisted": "a leg is inactive or no longer listed on the exchange; prices are its last "
    "real close",
}


def _ticket_lines(ticket: Ticket) -> list[_Line]:
    reason = f" ({ticket.reason})" if ticket.is_close else ""
    lines = [
        _line(("b", _headline(ticket)), f" {_pair(ticket.y_symbol, ticket.x_symbol)}{reason}"),
        *(_line(_leg_text(leg, ticket.quote)) for leg in ticket.legs),
    ]
    if ticket.is_close and ticket.reason in _LEG_GONE:
        lines.append(_line(("b", _LEG_GONE[ticket.reason])))
    estimate = _pnl_estimate(ticket)
    if estimate:
        lines.append(_line(("b", estimate)))
    lines += [
        _line(_levels(ticket)),
        _line(_stats(ticket)),
        _line(_risk(ticket)),
        _line(f"{ticket.exchange} · bar {format_utc(ticket.bar_ms)} · id ", ("c", ticket.id)),
    ]
    return lines


def render_telegram(ticket: Ticket) -> tuple[str, ...]:
    """The ticket as Telegram MarkdownV2 texts (one, unless its symbols are absurdly long),
    every dynamic value escaped, each part under 4096 characters."""
    return _telegram(_ticket_lines(ticket))


def render_slack(ticket: Ticket) -> dict[str, Any]:
    """The ticket as a Slack incoming-webhook payload: `text` (the one-line fallback) and
    `blocks` (a header, a section of fields with the numbers, sections with the legs)."""
    fields = [
        ("Action", f"{ticket.action} ({_LEG_GONE.get(ticket.reason, ticket.reason)})"),
        ("z-score", _levels(ticket)),
        ("Hedge · half-life · q", _stats(ticket)),
        ("Risk", _risk(ticket)),
    ]
    estimate = _pnl_estimate(ticket)
    if estimate:
        fields.append(("Estimated P&L", estimate))
    lines = [
        *(_line(_leg_text(leg, ticket.quote)) for leg in ticket.legs),
        _line(f"{ticket.exchange} · bar {format_utc(ticket.bar_ms)} · id ", ("c", ticket.id)),
    ]
    return _slack_payload(render_plain(ticket), _title(ticket), lines, fields)


def to_message(ticket: Ticket) -> Message:
    """The ticket in every channel's form."""
    return Message(
        slack=render_slack(ticket), telegram=render_telegram(ticket), plain=render_plain(ticket)
    )


def render_console(tickets: Sequence[Ticket]) -> Table:
    """A rich table of tickets, one row each (the full detail is in each ticket's plain
    text). Every word is short but the symbols and the id, so the CLI's `fit_columns` fits it
    in 100 columns with each symbol and id whole. Cells are `Text`, so symbols are never read
    as console markup."""
    table = Table(title="Trade tickets", show_lines=True)
    for name, justify in (
        ("action", "left"),
        ("legs (y, then x)", "left"),
        ("z (entry, exit, stop)", "right"),
        ("hedge", "right"),
        ("risk, or est. P&L", "right"),  # an open's risk, a close's P&L: never both
        ("bar (UTC) / id", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for t in tickets:
        figures = (
            f"vol {_money(t.daily_vol_quote)}/day\nVaR95 {_money(t.var95_quote)}"
            if not t.is_close
            else ""
            if t.pnl_estimate_quote is None
            else f"est. P&L\n{_pnl(t.pnl_estimate_quote)}"
        )
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    f"{_headline(t)}\n{t.reason.replace('_', ' ')}",
                    "\n".join(_leg_text(leg, t.quote) for leg in t.legs),
                    f"{_z(t.z)}\n({_level(t.entry_z)}/{_level(t.exit_z)}/{_level(t.stop_z)})",
                    f"{t.hedge_ratio:.3g}",
                    figures,
                    f"{format_utc(t.bar_ms)}\n{t.id}",
                )
            )
        )
    return table


# -- the paper book and the daily digest -------------------------------------------------------


def _position_text(position: BookPosition, quote: str) -> str:
    legs = ", ".join(
        f"{leg.side} {_qty(leg.qty)} {leg.symbol} {_pnl(leg.price_pnl_quote)}"
        + (" (no price)" if leg.mark_price is None else f" @ {_price(leg.mark_price)}")
        for leg in position.legs
    )
    return (
        f"{position.direction.upper()} {_pair(position.y_symbol, position.x_symbol)} since "
        f"{format_utc(position.opened_bar_ms)}: {_pnl(position.pnl_quote)} {quote} ({legs}; "
        f"fees paid {_money(position.fees_quote)}, {_funding(position.funding_quote)})"
    )


def _funding(paid: float) -> str:
    """Funding with its direction in words, not a sign: `funding paid 1.20`, `funding
    received 0.35` (`paid` > 0 is paid, < 0 received)."""
    return f"funding {'received' if paid < 0 else 'paid'} {_money(abs(paid))}"


def _book_lines(book: PaperBook) -> list[_Line]:
    quote = book.quote or ""
    unit = f" {quote}" if quote else ""
    lines = [
        _line(
            f"open {len(book.open_positions)} · gross {_money(book.open_gross_quote)}{unit} · "
            f"unrealised {_pnl(book.unrealised_quote)} · realised {_pnl(book.realised_quote)} · "
            f"total {_pnl(book.total_pnl_quote)}{unit}"
        ),
        _line(
            f"of which fees paid {_money(book.fees_quote)} and {_funding(book.funding_quote)}"
            f" · closed trades {len(book.closed_positions)}"
        ),
    ]
    if book.open_positions:
        lines.append(_line(("b", "Open positions")))
        lines += [_line(_position_text(p, quote)) for p in book.open_positions]
    if book.notes:
        lines.append(_line(("b", "Notes")))
        lines += [_line(note) for note in book.notes]
    return lines


def render_digest(book: PaperBook, selection_changes: Sequence[str], now_ms: int) -> Message:
    """The daily digest: the paper book's totals and open positions, then the pair
    selection's changes since the last digest under a header that counts them (one line
    each, as given), in every channel's form. Slack keeps to 50 blocks and Telegram to 10
    parts, each saying what was left out."""
    title = f"Paper book digest {format_utc(now_ms)}"
    body = _book_lines(book)
    count = len(selection_changes)
    body.append(_line(("b", "Selection changes since the last digest"), f": {count or 'none'}"))
    body += [_line(change) for change in selection_changes]
    plain = "\n".join([title, *(_raw(line) for line in body)])
    telegram = _telegram([_line(("b", title)), *body], DIGEST_MAX_TELEGRAM_PARTS)
    summary = (
        f"{title}: total {_pnl(book.total_pnl_quote)} {book.quote or ''}, "
        f"{len(book.open_positions)} open"
    )
    return Message(slack=_slack_payload(summary, title, body), telegram=telegram, plain=plain)


def render_book_console(book: PaperBook) -> Table:
    """The paper book for the run summary: one row per open position, totals in the caption."""
    quote = book.quote or ""
    table = Table(
        title="Paper book (delivered tickets)",
        caption=(
            f"unrealised {_pnl(book.unrealised_quote)} · realised {_pnl(book.realised_quote)} "
            f"· total {_pnl(book.total_pnl_quote)} {quote} (fees {_money(book.fees_quote)}, "
            f"funding {_money(book.funding_quote)} included) · "
            f"{len(book.closed_positions)} closed"
        ),
    )
    for name in ("pair", "side", "since (UTC)", "legs", "fees", "funding", "P&L"):
        table.add_column(name, justify="right" if name in ("fees", "funding", "P&L") else "left")
    for p in book.open_positions:
        legs = "\n".join(
            f"{leg.side} {_qty(leg.qty)} {leg.symbol} @ {_price(leg.entry_price)} -> "
            + ("no price" if leg.mark_price is None else _price(leg.mark_price))
            for leg in p.legs
        )
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    _pair(p.y_symbol, p.x_symbol),
                    p.direction,
                    format_utc(p.opened_bar_ms),
                    legs,
                    _money(p.fees_quote),
                    _money(p.funding_quote),
                    _pnl(p.pnl_quote),
                )
            )
        )
    return table
