"""Outgoing mail: SMTP (aiosmtplib) with the original service's EMAIL_* settings, or a log/file."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from commerce_kernel.settings import Settings

logger = logging.getLogger("commerce.mail")


class _HeaderClasses(HeaderRegistry):
    """The standard registry, keeping the class it makes for each header name: the standard
    one makes a new class (`type(...)`) for every header it stores, ~40% of the time spent
    building a message. The classes hold no state, so one per name serves every message."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = super().__getitem__(name)
            if len(self._made) < 256:
                self._made[key] = made
        return made


POLICY = policy.default.clone(header_factory=_HeaderClasses())
"""`email.policy.default` with the header classes kept (same output, built faster)."""


@dataclass
class Mail:
    """One message. Plain data, so it can travel through the task queue."""

    to: list[str]
    subject: str
    body: str
    from_email: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    """The left part of its `Message-ID` (a random one unless given), made with the message, so
    every try of sending it carries the same id (receivers drop a second copy)."""

    def __post_init__(self) -> None:
        if not self.message_id:
            self.message_id = uuid.uuid4().hex

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mail:
        return cls(**data)

    def to_message(self, default_from: str) -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        sender = self.from_email or default_from
        msg["From"] = sender
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = self.subject
        given = {key.lower() for key in self.headers}
        # RFC 5322 requires Date; receivers score a message without Message-ID as spam.
        if "date" not in given:
            msg["Date"] = email.utils.formatdate(usegmt=True)
        if "message-id" not in given:
            domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
            msg["Message-ID"] = f"<{self.message_id}@{domain}>"
        for key, value in self.headers.items():
            msg[key] = value
        msg.set_content(self.body)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        return msg


class Mailer:
    """Sends mail now. Callers off the request path use the `kernel.send_mail` task instead."""

    def __init__(self, default_from: str) -> None:
        self.default_from = default_from
        self.sent: list[EmailMessage] = []

    async def send(self, mail: Mail) -> None:
        msg = mail.to_message(self.default_from)
        await self.deliver(msg)

    async def deliver(self, msg: EmailMessage) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let go of what the mailer holds open (the kernel calls it when it stops)."""


class LogMailer(Mailer):
    """No EMAIL_HOST: the message is written to the log (and kept in `sent`, for tests)."""

    async def deliver(self, msg: EmailMessage) -> None:
        self.sent.append(msg)
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        logger.info("mail to %s: %s\n%s", msg["To"], msg["Subject"], text)


class FileMailer(Mailer):
    """EMAIL_FILE_PATH: each message appended to a file (mbox-like), for local inspection."""

    def __init__(self, default_from: str, path: str) -> None:
        super().__init__(default_from)
        self.path = Path(path)

    async def deliver(self, msg: EmailMessage) -> None:
        self.sent.append(msg)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"From {msg['From']}\n{msg.as_string()}\n\n")


class SMTPMailer(Mailer):
    """Sends through an SMTP server, keeping up to `keep` connections open between messages.

    A worker sends mail after mail: each then costs one SMTP transaction (MAIL, RCPT, DATA)
    rather than a new connection, EHLO, STARTTLS, login and QUIT. A kept connection is used
    again only while the server still holds it open and it has sat idle less than
    `idle_timeout` seconds (servers drop quiet clients, RFC 5321 allows after 5 minutes); if
    the server drops it just as it is used again, the message goes once more on a new
    connection. A connection that failed in any other way is closed, never reused, so a
    refusal or a timeout leaves nothing half-done for the next message. `aclose()` (the
    kernel calls it when it stops) ends the kept connections with QUIT."""

    def __init__(
        self,
        default_from: str,
        host: str,
        port: int,
        use_tls: bool,
        username: str | None,
        password: str | None,
        timeout: float = 20.0,
        *,
        keep: int = 10,
        idle_timeout: float = 30.0,
    ) -> None:
        super().__init__(default_from)
        self.host, self.port, self.use_tls = host, port, use_tls
        self.username, self.password, self.timeout = username, password, timeout
        self.keep, self.idle_timeout = keep, idle_timeout
        self._idle: list[tuple[Any, float]] = []  # (aiosmtplib.SMTP, when it was put back)
        self._local_hostname: str | None = None

    async def _connect(self) -> Any:
        import aiosmtplib

        if self._local_hostname is None:
            # aiosmtplib would look the name up (in a thread) for every connection.
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            start_tls=self.use_tls or None if self.port != 465 else False,
            use_tls=self.port == 465 and self.use_tls,
            username=self.username or None,
            password=self.password or None,
            timeout=self.timeout,
            local_hostname=self._local_hostname,
        )
        await client.connect()
        return client

    def _take(self) -> Any | None:
        """A kept connection still open and fresh, or None; stale ones are closed."""
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self.idle_timeout:
                return client
            client.close()
        return None

    def _put_back(self, client: Any) -> None:
        if len(self._idle) < self.keep and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()

    async def deliver(self, msg: EmailMessage) -> None:
        from aiosmtplib import SMTPServerDisconnected

        client = self._take()
        if client is not None:
            try:
                await self._send_on(client, msg)
                return
            except (SMTPServerDisconnected, ConnectionError):
                pass  # dropped while it sat idle: try once on a new connection
        await self._send_on(await self._connect(), msg)

    async def _send_on(self, client: Any, msg: EmailMessage) -> None:
        """Send on `client`, kept for the next message if it went; closed if it failed."""
        try:
            await client.send_message(msg)
        except BaseException:
            client.close()
            raise
        self._put_back(client)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                await client.quit(timeout=2)
            except Exception:
                client.close()


class MailToLogRefused(RuntimeError):
    """Production (DATABASE_URL set) with mail going to the log: sign-in codes and links
    would sit in the log for anyone who reads it. Refused unless EMAIL_TO_LOG_ALLOWED."""


def refuse_mail_to_log(settings: Settings, mailer: Mailer) -> None:
    """Raise `MailToLogRefused` (one line, for every command that starts the kernel) when a
    production deployment would write its mail to the log and nobody allowed it."""
    if (
        isinstance(mailer, LogMailer)
        and settings.database_configured
        and not settings.email_to_log_allowed
    ):
        raise MailToLogRefused(
            "EMAIL_HOST is required when DATABASE_URL is set (mail, sign-in codes included, "
            "would go to the log); set EMAIL_TO_LOG_ALLOWED=true to accept that"
        )


def create_mailer(settings: Settings) -> Mailer:
    if settings.email_host:
        return SMTPMailer(
            settings.default_from_email,
            settings.email_host,
            settings.email_port,
            settings.email_use_tls,
            settings.email_host_user,
            settings.email_host_password,
        )
    if settings.email_file_path:
        return FileMailer(settings.default_from_email, settings.email_file_path)
    return LogMailer(settings.default_from_email)
