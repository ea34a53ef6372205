"""HTTP side of the chat fake: one threaded server speaking Slack's incoming webhook
(`POST /services/...`) and Telegram's Bot API (`POST /bot<token>/sendMessage`), with a queue
of one-shot faults, switchable outages and a log of every request.

Over 400 lines on purpose: the request handler and the `FakeChat` it reports to share the
fault queue and the log under one lock; the answers themselves are `protocol.py`'s."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from ..serving import TrackingServer, serve, shut
from .protocol import slack_answer, telegram_error, telegram_send_message

ChatChannel = Literal["slack", "telegram"]
_TEXT = "text/html"  # what Slack sends with its plain-text `ok`
_JSON = "application/json"
_DOWN_PAGE = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
_BAD_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body></body></html>"


@dataclass(frozen=True)
class ChatFault:
    """One misbehaviour applied to a request instead of the service's answer.

    status None with `sleep_s` = answer normally after the delay (a slow service); `drop`
    closes the socket without a response (after `sleep_s`: a hang). status None with
    `answer_delay_s` = the service takes the message at once (logged as delivered) and sends
    its answer only after the delay: a client that times out first does not know it arrived.
    """

    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = _TEXT
    sleep_s: float = 0.0
    drop: bool = False
    name: str = "fault"
    answer_delay_s: float = 0.0


def _telegram_json(status: int, body: dict[str, Any], name: str) -> ChatFault:
    return ChatFault(status, json.dumps(body).encode(), content_type=_JSON, name=name)


# 200 answers that are not the service's success answer: the message was NOT recorded.
SLACK_NOT_OK_200 = {
    "200_ok_newline": b"ok\n",
    "200_OK": b"OK",
    "200_empty": b"",
    "200_html": b"<html><body>ok</body></html>",
    "200_json": b'{"ok": true}',
}
TELEGRAM_NOT_OK_200 = {
    "200_no_result": b'{"ok": true}',
    "200_result_true": b'{"ok": true, "result": true}',
    "200_no_message_id": b'{"ok": true, "result": {"date": 1700000000, "chat": {"id": 1}}}',
    "200_other_chat": (
        b'{"ok": true, "result": {"message_id": 7, "date": 1700000000, '
        b'"chat": {"id": -100111, "type": "supergroup"}, "text": "x"}}'
    ),
    "200_ok_false": b'{"ok": false, "error_code": 400, "description": "Bad Request"}',
    "200_text": b"ok",
    "200_empty": b"",
    "200_html": b"<html><body>ok</body></html>",
}


def make_fault(
    channel: ChatChannel, kind: str, *, retry_after: int = 1, sleep_s: float = 2.0
) -> ChatFault:
    """The named faults of each service.

    down: Slack 503 HTML page, Telegram 502 HTML page (the load balancer answers).
    429: Slack 429 `rate_limited` with `Retry-After: retry_after`; Telegram 429 with
        `parameters.retry_after` in the body (no header, as documented).
    500: Slack 500 `rollup_error`; Telegram 500 "Internal Server Error".
    400_parse (Telegram): "can't parse entities: Character '.' is reserved ...".
    hang: no answer for `sleep_s`, then the socket is closed (longer than the client timeout).
    slow: the real answer after `sleep_s` (the message IS delivered; the client may have
        given up: the duplicate-delivery case).
    taken_slow: the message is taken (logged as delivered) at once, the answer sent after
        `sleep_s` (the service accepted; a client timing out first cannot know).
    drop: the socket is closed at once without a response.
    200_* (`SLACK_NOT_OK_200`, `TELEGRAM_NOT_OK_200`): a 200 whose body is not the service's
        success answer (Slack's `ok`; Telegram's `{"ok": true, "result": <Message>}`), from
        something in between; the message is not recorded.
    """
    name = f"{channel}_{kind}"
    if kind == "hang":
        return ChatFault(sleep_s=sleep_s, drop=True, name=name)
    if kind == "slow":
        return ChatFault(sleep_s=sleep_s, name=name)
    if kind == "taken_slow":
        return ChatFault(answer_delay_s=sleep_s, name=name)
    if kind == "drop":
        return ChatFault(drop=True, name=name)
    shapes = SLACK_NOT_OK_200 if channel == "slack" else TELEGRAM_NOT_OK_200
    if kind in shapes:
        body = shapes[kind]
        content_type = _JSON if body.startswith(b"{") else _TEXT
        return ChatFault(200, body, content_type=content_type, name=name)
    if channel == "slack":
        if kind == "down":
            return ChatFault(503, _DOWN_PAGE.encode(), name=name)
        if kind == "429":
            headers = {"Retry-After": str(retry_after)}
            return ChatFault(429, b"rate_limited", headers, name=name)
        if kind == "500":
            return ChatFault(500, b"rollup_error", name=name)
    else:
        if kind == "down":
            return ChatFault(502, _BAD_GATEWAY_PAGE.encode(), name=name)
        if kind == "429":
            body = telegram_error(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
            return _telegram_json(429, body, name)
        if kind == "500":
            return _telegram_json(500, telegram_error(500, "Internal Server Error"), name)
        if kind == "400_parse":
            description = (
                "Bad Request: can't parse entities: Character '.' is reserved and must be "
                "escaped with the preceding '\\'"
            )
            body = telegram_error(400, description)
            return ChatFault(400, json.dumps(body).encode(), content_type=_JSON, name=name)
    raise ValueError(f"unknown fault {kind!r} for {channel}")


@dataclass(frozen=True)
class Received:
    """One request as the server saw it.

    channel: "slack", "telegram" or "other" (an unknown path). payload: the decoded JSON
    body (None if it did not decode). status: the answer's status (None: no answer, the
    socket was dropped). shown: for accepted messages, the text as the chat shows it
    (Telegram: after MarkdownV2 parsing; Slack: the `text` field). by_service: the service
    itself answered (False: a fault answered in its place and nothing was recorded).
    """

    channel: str
    path: str
    payload: Any
    status: int | None
    fault: str | None
    shown: str | None
    wall_time: float
    by_service: bool = True

    @property
    def delivered(self) -> bool:
        """The chat has the message: the service itself answered 200."""
        return self.status == 200 and self.by_service


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-chat"
    sys_version = ""
    timeout = 60
    disable_nagle_algorithm = True
    server: _Server
    _answer_delay_s = 0.0  # of the request being answered (a `taken_slow` fault)

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length) if length else b"")

    def _answer(self, raw: bytes) -> None:
        fake = self.server.fake
        path = urllib.parse.urlsplit(self.path).path
        channel = (
            "slack"
            if path.startswith("/services/")
            else "telegram"
            if path.startswith("/bot")
            else "other"
        )
        payload = _decode(raw, self.headers.get("Content-Type", ""))
        fault = fake._take_fault(channel)
        if fault is not None:
            if fault.sleep_s > 0 and self.server.stopping.wait(fault.sleep_s):
                fault = ChatFault(drop=True, name=fault.name)
            if fault.drop:
                fake._log(channel, path, payload, None, fault.name, None, by_service=False)
                self.close_connection = True
                return
            if fault.status is not None:
                fake._log(channel, path, payload, fault.status, fault.name, None, by_service=False)
                self._send(fault.status, fault.body, fault.content_type, fault.headers)
                return
        name = fault.name if fault else None
        self._answer_delay_s = fault.answer_delay_s if fault else 0.0
        if self.command != "POST":
            fake._log(channel, path, payload, 405, name, None)
            self._send(405, b"invalid_method", _TEXT)
        elif channel == "slack":
            self._slack(path, raw, payload, name)
        elif channel == "telegram":
            self._telegram(path, payload, name)
        else:
            fake._log(channel, path, payload, 404, name, None)
            self._send(404, b"Not Found", _TEXT)

    def _slack(self, path: str, raw: bytes, payload: Any, fault: str | None) -> None:
        fake = self.server.fake
        if path != fake.webhook_path:
            status, body = 404, "no_service"
        else:
            status, body = slack_answer(raw)
        shown = payload.get("text") if status == 200 and isinstance(payload, dict) else None
        fake._log("slack", path, payload, status, fault, shown)
        self._send(status, body.encode(), _TEXT)

    def _telegram(self, path: str, payload: Any, fault: str | None) -> None:
        fake = self.server.fake
        token, _, method = path[len("/bot") :].partition("/")
        shown = None
        if token != fake.token:
            status, body = 401, telegram_error(401, "Unauthorized")
        elif method != "sendMessage":
            status, body = 404, telegram_error(404, "Not Found")
        elif not isinstance(payload, dict):
            status, body = 400, telegram_error(400, "Bad Request: message text is empty")
        else:
            status, body, shown = telegram_send_message(payload, chat_id=fake.chat_id)
            if status == 200:
                body["result"] = fake._result(payload, shown or "")
        fake._log("telegram", path, payload, status, fault, shown)
        self._send(status, json.dumps(body).encode(), _JSON)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        delay, self._answer_delay_s = self._answer_delay_s, 0.0
        if delay > 0 and self.server.stopping.wait(delay):
            self.close_connection = True  # shutting down: no answer
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged in `FakeChat.received`, not on stderr."""


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "application/x-www-form-urlencoded" in content_type:
        return dict(urllib.parse.parse_qsl(text))
    try:
        return json.loads(text)
    except ValueError:
        return None


class _Server(TrackingServer):
    """The shared server plumbing, knowing the fake its handlers answer for."""

    def __init__(self, address: tuple[str, int], fake: FakeChat) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


@dataclass
class _Pending:
    channel: str
    fault: ChatFault
    remaining: int


class FakeChat:
    """A running fake Slack webhook + Telegram Bot API on 127.0.0.1.

    Config helpers: `webhook_url` (SLACK_WEBHOOK_URL), `api_base`
    (notify.telegram.api_base), `token` (TELEGRAM_BOT_TOKEN), `chat_id` (TELEGRAM_CHAT_ID),
    `env()` for all three secrets. Faults: `add_fault("slack", "429", times=2)`,
    `set_down("slack")` until `set_down("slack", False)`, `stop()` / `start()` for
    connection refused on the same port. Log: `received`, `delivered(channel)`,
    `shown(channel)`.
    """

    def __init__(
        self,
        *,
        token: str = "123456789:AAFakeTelegramTokenForTests-0123456",
        chat_id: str = "-1001234567890",
        webhook_path: str = "/services/T000/B000/XXXX",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.chat_id = chat_id
        self.webhook_path = webhook_path
        self.host = host
        self.received: list[Received] = []
        self._faults: list[_Pending] = []
        self._down: dict[str, ChatFault] = {}
        self._lock = threading.Lock()
        self._message_id = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    # ---- lifecycle

    def start(self) -> None:
        """Serve (again) on the same port; a no-op while serving."""
        if self._server is not None:
            return
        self._server = _Server((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        self._thread = serve(self._server, f"fake-chat-{self.port}")

    def stop(self) -> None:
        """Stop listening: clients get "connection refused" until `start()`. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        shut(server, self._thread)

    close = stop

    def __enter__(self) -> FakeChat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- config helpers

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + self.webhook_path

    @property
    def api_base(self) -> str:
        return self.base_url

    def env(self) -> dict[str, str]:
        """The three secrets as environment variables (for `load_config(env=...)`)."""
        return {
            "SLACK_WEBHOOK_URL": self.webhook_url,
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_CHAT_ID": self.chat_id,
        }

    # ---- faults

    def add_fault(
        self,
        channel: ChatChannel,
        kind: str | ChatFault,
        *,
        times: int = 1,
        retry_after: int = 1,
        sleep_s: float = 2.0,
    ) -> None:
        """Queue a fault for the next `times` requests to `channel` (first in, first out).
        `kind`: see `make_fault` (down, 429, 500, 400_parse, hang, slow, drop) or a
        `ChatFault`."""
        if times < 1:
            raise ValueError(f"times must be >= 1 (got {times})")
        fault = (
            kind
            if isinstance(kind, ChatFault)
            else make_fault(channel, kind, retry_after=retry_after, sleep_s=sleep_s)
        )
        with self._lock:
            self._faults.append(_Pending(channel, fault, times))

    def echo_fault(self, channel: ChatChannel, status: int) -> ChatFault:
        """An error answer (`status`: 400, 401, 403, ...) in the service's own format whose
        text quotes every secret: the whole token, its secret half (after `<bot id>:`), the
        chat id, the webhook URL and its path, as misconfigured proxies and some services'
        error pages do."""
        secret_half = self.token.partition(":")[2]
        echo = (
            f"token {self.token} secret {secret_half} chat {self.chat_id} "
            f"hook {self.webhook_url} path {self.webhook_path}"
        )
        if channel == "telegram":
            words = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
            body = telegram_error(status, f"{words.get(status, 'Error')}: {echo}")
            return _telegram_json(status, body, f"telegram_echo_{status}")
        return ChatFault(status, f"invalid_token {echo}".encode(), name=f"slack_echo_{status}")

    def set_down(self, channel: ChatChannel, down: bool = True) -> None:
        """Answer every request to `channel` with its "down" fault until called with False."""
        with self._lock:
            if down:
                self._down[channel] = make_fault(channel, "down")
            else:
                self._down.pop(channel, None)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return sum(p.remaining for p in self._faults)

    def _take_fault(self, channel: str) -> ChatFault | None:
        with self._lock:
            if channel in self._down:
                return self._down[channel]
            for pending in self._faults:
                if pending.channel == channel:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending.fault
        return None

    # ---- log

    def _log(
        self,
        channel: str,
        path: str,
        payload: Any,
        status: int | None,
        fault: str | None,
        shown: str | None,
        *,
        by_service: bool = True,
    ) -> None:
        entry = Received(channel, path, payload, status, fault, shown, time.time(), by_service)
        with self._lock:
            self.received.append(entry)

    def _result(self, payload: Mapping[str, Any], shown: str) -> dict[str, Any]:
        with self._lock:
            self._message_id += 1
            message_id = self._message_id
        chat = payload.get("chat_id")
        if isinstance(chat, str) and chat.startswith("@"):
            # A public channel named by username: Telegram answers with its numeric id.
            described = {"id": -1009999999999, "type": "channel", "username": chat[1:]}
        else:
            kind = "supergroup" if str(chat).startswith("-") else "private"
            described = {"id": chat, "type": kind}
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": described,
            "text": shown,
        }

    def requests(self, channel: str | None = None) -> list[Received]:
        """Every logged request (to `channel` only, when given), in arrival order."""
        with self._lock:
            return [r for r in self.received if channel is None or r.channel == channel]

    def delivered(self, channel: str) -> list[Any]:
        """Payloads the service accepted (HTTP 200), in order: assert exactly-once here."""
        return [r.payload for r in self.requests(channel) if r.delivered]

    def shown(self, channel: str) -> list[str]:
        """Accepted messages as the chat shows them (Telegram text after MarkdownV2 parsing)."""
        return [r.shown or "" for r in self.requests(channel) if r.delivered]

    def clear(self) -> None:
        """Forget logged requests, queued faults and outages."""
        with self._lock:
            self.received.clear()
            self._faults.clear()
            self._down.clear()


def start_fake_chat(**kwargs: Any) -> FakeChat:
    """A running `FakeChat` on 127.0.0.1 (port 0 = any free port); use it as a context
    manager. Keyword arguments: token, chat_id, webhook_path, host, port."""
    return FakeChat(**kwargs)
