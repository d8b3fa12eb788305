"""A pywa bot as its users write one, pointed at a wabahook sandbox.

pywa is used unmodified: the only change is where its httpx session sends requests (a transport
that sends what pywa addresses to graph.facebook.com to the sandbox). pywa obtains the app
token, registers its callback (the sandbox performs the verification handshake against pywa's
own server), and validates every update's signature with the app secret.

Every update a handler receives is printed as one JSON line on stdout for the test to read. The
test makes the bot send through pywa's own client with JSON lines on stdin (`{"op": "text"}`,
`"template"` or `"buttons"`); each answer is printed as a `sent` line with the message's id, or
an `error` line with what pywa raised.

Usage: pywa_bot.py GRAPH_BASE PHONE_ID TOKEN WABA_ID APP_ID APP_SECRET VERIFY_TOKEN
"""

import json
import os
import socket
import sys
import threading

import httpx
from pywa import WhatsApp, types
from pywa.types.templates import TemplateLanguage

graph_base, phone_id, token, waba_id, app_id, app_secret, verify_token = sys.argv[1:8]


class ToSandbox(httpx.HTTPTransport):
    """Sends every request to the sandbox instead of graph.facebook.com, path unchanged."""

    def __init__(self, base: str):
        super().__init__()
        self.base = httpx.URL(base)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.base.scheme, host=self.base.host, port=self.base.port
        )
        return super().handle_request(request)


# pywa runs handlers on a thread pool, several at once; `print` writes a line and its newline
# separately, so two handlers could interleave into one unreadable line. One write per line,
# under a lock.
_emit_lock = threading.Lock()


def emit(kind: str, **data) -> None:
    line = json.dumps({"kind": kind, **data}) + "\n"
    with _emit_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
wa = WhatsApp(
    phone_id=phone_id,
    token=token,
    session=httpx.Client(transport=ToSandbox(graph_base)),
    waba_id=waba_id,
    app_id=app_id,
    app_secret=app_secret,
    verify_token=verify_token,
    callback_url=f"http://127.0.0.1:{port}",
    webhook_endpoint="/pywa",
    webhook_challenge_delay=5,
    validate_updates=True,
)


@wa.on_message
def on_message(_: WhatsApp, msg: types.Message) -> None:
    emit(
        "message",
        id=msg.id,
        type=str(msg.type),
        text=msg.text,
        from_wa_id=msg.from_user.wa_id,
        from_name=msg.from_user.name,
        phone_id=msg.metadata.phone_number_id,
    )


@wa.on_callback_button
def on_button(_: WhatsApp, btn: types.CallbackButton) -> None:
    emit(
        "callback_button",
        id=btn.id,
        type=str(btn.type),
        data=btn.data,
        title=btn.title,
        reply_to=btn.reply_to_message.message_id if btn.reply_to_message else None,
        from_wa_id=btn.from_user.wa_id,
    )


@wa.on_message_status
def on_status(_: WhatsApp, status: types.MessageStatus) -> None:
    emit(
        "status",
        id=status.id,
        status=str(status.status),
        to_wa_id=status.from_user.wa_id,
        tracker=status.tracker,
    )


def send(cmd: dict) -> types.SentMessage:
    op = cmd["op"]
    if op == "text":
        return wa.send_message(to=cmd["to"], text=cmd["text"], tracker=cmd.get("tracker"))
    if op == "template":
        return wa.send_template(
            to=cmd["to"],
            name=cmd["name"],
            language=TemplateLanguage(cmd["language"]),
            tracker=cmd.get("tracker"),
        )
    if op == "buttons":
        return wa.send_message(
            to=cmd["to"],
            text=cmd["text"],
            buttons=[types.Button(title=t, callback_data=d) for d, t in cmd["buttons"]],
        )
    raise ValueError(f"unknown op {op!r}")


def serve_commands() -> None:
    # A command that fails is reported, not fatal: the test decides what a failure means.
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            sent = send(cmd)
            emit("sent", op=cmd["op"], id=sent.id, to=sent.to)
        except Exception as e:  # noqa: BLE001
            emit("error", op=cmd["op"], error=repr(e))


threading.Thread(target=serve_commands, daemon=True).start()


@wa.on_template_status_update
def on_template_status(_: WhatsApp, update: types.TemplateStatusUpdate) -> None:
    emit(
        "template_status",
        waba_id=update.id,
        template_name=update.template_name,
        template_id=str(update.template_id),
        new_status=str(update.new_status),
    )


emit("listening", port=port)
wa.run(host="127.0.0.1", port=port, log_level=os.environ.get("PYWA_BOT_LOG_LEVEL", "warning"))
