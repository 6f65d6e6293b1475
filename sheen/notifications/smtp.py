"""Send one notification e-mail over SMTP (smtplib), errors translated at this boundary.

The Message-ID is the notification id (`<id@sender-domain>`), so a resend after a crash
between "accepted by SMTP" and "recorded sent" is recognisable as the same message.
Connection errors, timeouts and 4xx replies are transient (retried with backoff); a 5xx
reply (a refused recipient, a refused sender, a refused message) is permanent.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

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
) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(text)  # first: set_content replaces every Content-* header
    msg["From"] = settings.smtp_sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(notification_id, settings)
    msg["Content-Language"] = locale
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Sheen-Notification-Id"] = str(notification_id)
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_tls == "ssl":
        return smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout,
            context=ssl.create_default_context(),
        )  # fmt: skip
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.smtp_tls == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def _refusal(code: int, what: str) -> SheenError:
    if 400 <= code < 500:
        return TransientError(f"SMTP {code}: {what} deferred")
    return DeliveryRefused(f"SMTP {code}: {what} refused")


def send(settings: Settings, msg: EmailMessage) -> None:
    """Deliver `msg` to the configured server, or raise TransientError / DeliveryRefused.

    Error texts never carry the address: they name the step and the reply code only.
    """
    with external_request("smtp", settings):
        try:
            client = _connect(settings)
            try:
                if settings.smtp_username and settings.smtp_password is not None:
                    client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                client.send_message(msg)
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _refusal(min(codes) if codes else 550, "recipient") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _refusal(exc.smtp_code, "sender") from None
        except smtplib.SMTPDataError as exc:
            raise _refusal(exc.smtp_code, "message") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryRefused(f"SMTP {exc.smtp_code}: authentication refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _refusal(exc.smtp_code, "command") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}") from None
