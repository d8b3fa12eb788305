"""A pywa bot as its users write one, pointed at a wabahook sandbox.

pywa is used unmodified: the only change is where its httpx session sends requests (a transport
that sends what pywa addresses to graph.facebook.com to the sandbox). pywa obtains the app
token, registers its callback (the sandbox performs the verification handshake against pywa's
own server), and validates every update's signature with the app secret.

Every update a handler receives is printed as one JSON line on stdout for the test to read.

Usage: pywa_bot.py GRAPH_BASE PHONE_ID TOKEN WABA_ID APP_ID APP_SECRET VERIFY_TOKEN
"""

import json
import os
import socket
import sys
import threading

import httpx
from pywa import WhatsApp, types

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


@wa.on_message_status
def on_status(_: WhatsApp, status: types.MessageStatus) -> None:
    emit(
        "status",
        id=status.id,
        status=str(status.status),
        to_wa_id=status.from_user.wa_id,
    )


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
