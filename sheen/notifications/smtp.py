"""Send one notification e-mail over SMTP (smtplib), errors translated at this boundary.

The Message-ID is the notification id (`<id@sender-domain>`), so a resend after a crash
between "accepted by SMTP" and "recorded sent" is recognisable as the same message.
Connection errors, timeouts and 4xx replies are transient (retried with backoff); a 5xx
reply (a refused recipient, a refused sender, a refused message) is permanent.

Each worker process keeps its SMTP connection open between messages (one TCP and TLS
handshake per process, not per message); a connection the server closed meanwhile is
replaced once, at once. Messages are built with the `compat32` email API (`MIMEText`):
the modern `EmailMessage` header parsing cost several milliseconds of CPU per message.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import uuid
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from functools import cache
from typing import Any

from sheen.errors import SheenError, TransientError
from sheen.metrics import external_request
from sheen.settings import Settings


class DeliveryRefused(SheenError):
    """The SMTP server refused the message for good (5xx): not retried."""


def message_id(notification_id: uuid.UUID, settings: Settings) -> str:
    domain = parseaddr(settings.smtp_sender)[1].rpartition("@")[2] or "sheenapps.local"
    return f"<{notification_id}@{domain}>"


def build_message(
    settings: Settings,
    notification_id: uuid.UUID,
    recipient: str,
    subject: str,
    text: str,
    locale: str,
) -> MIMEText:
    msg = MIMEText(text, "plain", "utf-8")
    msg["From"] = settings.smtp_sender
    msg["To"] = recipient
    # Non-ASCII subjects as RFC 2047 encoded words (the generator folds them)
    encoded: Any = subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject")
    msg["Subject"] = encoded
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(notification_id, settings)
    msg["Content-Language"] = locale
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Sheen-Notification-Id"] = str(notification_id)
    return msg


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=_tls_context()
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_tls == "starttls":
            client.starttls(context=_tls_context())
    if settings.smtp_username and settings.smtp_password is not None:
        client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    return client


_open: dict[tuple[object, ...], smtplib.SMTP] = {}


def _key(settings: Settings) -> tuple[object, ...]:
    return (settings.smtp_host, settings.smtp_port, settings.smtp_tls, settings.smtp_username)


def _drop(settings: Settings) -> None:
    client = _open.pop(_key(settings), None)
    if client is not None:
        with contextlib.suppress(OSError):
            client.close()


def _refusal(code: int, what: str) -> SheenError:
    if 400 <= code < 500:
        return TransientError(f"SMTP {code}: {what} deferred")
    return DeliveryRefused(f"SMTP {code}: {what} refused")


def _deliver(settings: Settings, msg: MIMEText) -> None:
    key = _key(settings)
    client = _open.get(key)
    if client is not None:
        try:
            client.send_message(msg)
            return
        except smtplib.SMTPServerDisconnected:
            _drop(settings)  # closed by the server while idle: one new connection, at once
    client = _connect(settings)
    _open[key] = client
    client.send_message(msg)


def send(settings: Settings, msg: MIMEText) -> None:
    """Deliver `msg` to the configured server, or raise TransientError / DeliveryRefused.

    Error texts never carry the address: they name the step and the reply code only.
    """
    with external_request("smtp", settings):
        try:
            _deliver(settings, msg)
        # smtplib sends RSET itself after a refused recipient, sender or message: the
        # connection stays open for the next one.
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _refusal(min(codes) if codes else 550, "recipient") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _refusal(exc.smtp_code, "sender") from None
        except smtplib.SMTPDataError as exc:
            raise _refusal(exc.smtp_code, "message") from None
        except smtplib.SMTPAuthenticationError as exc:
            _drop(settings)
            raise DeliveryRefused(f"SMTP {exc.smtp_code}: authentication refused") from None
        except smtplib.SMTPResponseException as exc:
            _drop(settings)
            raise _refusal(exc.smtp_code, "command") from None
        except (smtplib.SMTPException, OSError) as exc:
            _drop(settings)
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from None
