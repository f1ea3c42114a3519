"""Serving the web app: where it may bind (loopback, or credentials, or ``--insecure``), what a client
can make it hold (body size, uploads, sessions), and ``serve`` itself (``hrqa serve``)."""

from __future__ import annotations

import ipaddress
import json
import logging
import sys

import gradio as gr

from hrqa.errors import HrqaError, SettingsError
from hrqa.settings import Settings
from hrqa.ui.layout import CSS, build_app
from hrqa.ui.service import Service

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused (413) before anything reads or
    parses it; a body without Content-Length is read up to the limit first. Uploads (``/upload``) have
    their own limit, Gradio's ``max_file_size``."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                await self._refuse(send, 400, "the Content-Length header is not a number")
                return
            if size > self.limit:
                await self._refuse(send, 413, self._message(f"{size} bytes"))
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(send, 413, self._message(f"over {self.limit} bytes"))
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, size: str) -> str:
        return f"the request body ({size}) is over the limit of {self.limit} bytes (setting max_request_bytes)"

    @staticmethod
    async def _refuse(send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def launch_limits(settings: Settings) -> dict:
    """The ``launch()`` arguments that bound what a client can make the server hold: upload size,
    request body size, and stored sessions (each raw REST call to /gradio_api/call/* opens one)."""
    from starlette.middleware import Middleware

    return {
        "max_file_size": settings.max_file_bytes,
        "app_kwargs": {"middleware": [Middleware(BodyLimit, limit=settings.max_request_bytes)]},
        "state_session_capacity": settings.max_sessions,
    }


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(settings: Settings) -> tuple[str, str] | None:
    """The credentials to require, or None; refuse to bind beyond loopback without credentials unless
    ``insecure`` is set (then warn)."""
    credentials = None
    if settings.auth:
        user, _, password = settings.auth.partition(":")
        if not password:
            raise SettingsError("HRQA_AUTH needs a password: user:password")
        credentials = (user, password)
    if credentials is None and not is_loopback(settings.host):
        if not settings.insecure:
            raise SettingsError(
                f"refusing to serve on {settings.host} without credentials: anyone who can reach it could read "
                "the corpus, rebuild the index and upload files. Set HRQA_AUTH=user:password, or pass "
                "--insecure (HRQA_INSECURE=1) to accept that"
            )
        print(
            f"hrqa: WARNING: serving on {settings.host}:{settings.port} without credentials (--insecure); "
            "anyone who can reach this address can read the corpus, rebuild the index and upload files",
            file=sys.stderr,
            flush=True,
        )
    return credentials


def serve(settings: Settings | None = None) -> int:
    """Start the web app with ``settings`` (``hrqa serve`` and ``python app.py`` build them from their
    flags with ``settings_from_args``; None: the environment's); returns the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    logging.getLogger("hrqa").setLevel(logging.INFO)
    try:
        settings = settings or Settings.from_env()
        credentials = check_binding(settings)
    except HrqaError as error:
        print(f"hrqa: error: {error}", file=sys.stderr)
        return 2
    service = Service(settings)
    service.start()
    demo = build_app(service)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    try:
        demo.launch(
            server_name=settings.host,
            server_port=settings.port,
            auth=credentials,
            auth_message="hrqa: sign in with the HRQA_AUTH credentials" if credentials else None,
            **launch_limits(settings),
            share=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            inbrowser=False,
            show_error=False,
            footer_links=["api"],
            theme=theme,
            css=CSS,
            quiet=False,
        )
    except OSError as error:  # the port is taken, or the address cannot be bound
        print(
            f"hrqa: error: cannot serve on {settings.host}:{settings.port} ({error}); choose another with --port",
            file=sys.stderr,
        )
        return 2
    return 0
