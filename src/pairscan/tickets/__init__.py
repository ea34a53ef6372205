"""Stage 6 (tickets): the trade ticket, its rendering for every channel, the SQLite outbox
(tickets saved in the run's transaction, before any send) and the paper book.

Never imports ccxt, requests or click, and sends nothing: `pairscan.notify` delivers.
"""

from pairscan.tickets.book import BookLeg, BookPosition, PaperBook, build_paper_book
from pairscan.tickets.export import ExportCounts, export_new
from pairscan.tickets.model import (
    ACTIONS,
    CLOSE_REASONS,
    ENTRY_REASON,
    Leg,
    Side,
    Ticket,
    TicketAction,
    ticket_id,
)
from pairscan.tickets.outbox import (
    DeliveryFailure,
    combine,
    delivered_ids,
    failures,
    load_selection,
    load_tickets,
    mark_delivered,
    outbox_writer,
    outgoing,
    pending,
    record_failure,
    selection_writer,
)
from pairscan.tickets.render import (
    render_book_console,
    render_console,
    render_digest,
    render_plain,
    render_slack,
    render_telegram,
    to_message,
)

__all__ = [
    "ACTIONS",
    "CLOSE_REASONS",
    "ENTRY_REASON",
    "BookLeg",
    "BookPosition",
    "DeliveryFailure",
    "ExportCounts",
    "Leg",
    "PaperBook",
    "Side",
    "Ticket",
    "TicketAction",
    "build_paper_book",
    "combine",
    "delivered_ids",
    "export_new",
    "failures",
    "load_selection",
    "load_tickets",
    "mark_delivered",
    "outbox_writer",
    "outgoing",
    "pending",
    "record_failure",
    "render_book_console",
    "render_console",
    "render_digest",
    "render_plain",
    "render_slack",
    "render_telegram",
    "selection_writer",
    "ticket_id",
    "to_message",
]
