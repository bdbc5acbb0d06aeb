import re
from dataclasses import dataclass
from typing import Any

import pytest

# The defaults, stated anyway: overrides beat the environment and `.env`, so the tests hold
# wherever they run (test_otp_limits.py states its own).
DEFAULTS = {
    "OTP_REQUEST_INTERVAL": "30",
    "OTP_REQUESTS_PER_HOUR": "5",
    "OTP_LOGIN_FAILURES_PER_ADDRESS": "50",
}


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["auth_otp"]


@pytest.fixture(scope="session")
def commerce_settings():
    return dict(DEFAULTS)


def code_in(message: Any) -> str:
    # Works for the mailbox's EmailMessage and for the SMTP server's compat32 Message.
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = part.get_payload(decode=True).decode()
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


@dataclass
class OTP:
    client: Any
    mailbox: list[Any]
    run_tasks: Any

    async def request(self, email: str) -> Any:
        return await self.client.post("/api/auth/otp/request/", json={"email": email})

    async def code_for(self, email: str) -> str:
        """The code in the newest mail to `email` (runs the queued mail tasks first)."""
        await self.run_tasks()
        mails = [m for m in self.mailbox if m["To"] == email]
        assert mails, f"no mail to {email}"
        return code_in(mails[-1])

    async def login(self, email: str, code: str) -> Any:
        return await self.client.post("/api/auth/otp-login/", json={"email": email, "code": code})


@pytest.fixture
def otp(client, mailbox, run_tasks):
    return OTP(client, mailbox, run_tasks)


@pytest.fixture
def extract_code():
    return code_in
