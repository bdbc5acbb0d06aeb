"""Schemathesis fuzzes `/api/openapi.json` of every plugin, as a customer and as an admin, against
the app served by a real uvicorn: no 5xx, every answer as the document says."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from commerce_kernel.plugins import installed_plugins
from commerce_kernel.testing import Backend, SignedIn, free_port, serve_app

PLUGINS = sorted(p.name for p in Path(__file__).parents[2].joinpath("plugins").iterdir())
SEED = 20261202
MAX_EXAMPLES = int(os.environ.get("COMMERCE_FUZZ_EXAMPLES", "100"))
TIME_BUDGET = 300  # seconds for the whole schemathesis run; the test fails past it


@pytest.fixture(scope="session")
def commerce_plugins() -> list[str]:
    return PLUGINS


GOOGLE_PORT = free_port()


@pytest.fixture(scope="session")
def commerce_settings() -> dict[str, str]:
    # Google sign-in configured, against a stand-in on loopback (no key it publishes signed
    # anything the fuzzer sends, so every token is a 401, never the internet and never a 503).
    return {
        "GOOGLE_CLIENT_ID": "fuzz-client.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "fuzz-client-secret",
        "GOOGLE_JWKS_URL": f"http://127.0.0.1:{GOOGLE_PORT}/certs",
        "GOOGLE_TOKEN_URL": f"http://127.0.0.1:{GOOGLE_PORT}/token",
    }


@pytest_asyncio.fixture(loop_scope="session")
async def google() -> AsyncIterator[None]:
    async def certs(request: Request) -> JSONResponse:
        return JSONResponse({"keys": []})

    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)

    app = Starlette(routes=[Route("/certs", certs), Route("/token", token, methods=["POST"])])
    async with serve_app(app, GOOGLE_PORT):
        yield


@pytest.fixture(scope="session")
def commerce_backend() -> Backend:
    # The directory's conftest points its tests at private servers for fault tests; these
    # run on the run's backend (SQLite, or the MariaDB + Redis run's).
    return Backend.from_environment()


# Operations that need an admin token; every other one gets the customer's.
ADMIN_OPERATIONS = "^((GET|POST|PUT|PATCH|DELETE) /api/(admin|products)/|PATCH /api/orders/)"
# (The public product reads too: an admin sees the inactive products the fuzzer creates.)


def _config(url: str, customer: SignedIn, admin: SignedIn) -> str:
    """The schemathesis.toml of the run: fixed seed, bounded examples, every check, the
    customer's token on customer (and public) operations, the admin's on admin ones."""
    return f"""
base-url = "{url}"
seed = {SEED}
continue-on-failure = true
request-timeout = 20
headers = {{ Authorization = "Bearer {customer.access_token}" }}

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
no-shrink = true
database = "none"

[checks]
enabled = true
# JSON Schema cannot say every rule a body has (a promotion's kind needs a value, a SKU of
# spaces is empty once trimmed): such bodies are refused with a documented 422, which this
# check would count as a failure. The other direction (negative_data_rejection: what the
# document says is invalid must be refused) stays on.
positive_data_acceptance = {{ enabled = false }}

[phases.stateful]
max-steps = 20

[[operations]]
include-name-regex = "{ADMIN_OPERATIONS}"
headers = {{ Authorization = "Bearer {admin.access_token}" }}

# The contract keeps a deleted product (retired), a deleted promotion (deactivated) and a
# cancelled order readable.
[[operations]]
include-name-regex = "^(GET|PUT|PATCH|DELETE) /api/(products|orders|admin/promotions)/[{{]id[}}]/(sold_count/)?$"
checks = {{ use_after_free = {{ enabled = false }} }}
"""


async def test_schemathesis_finds_no_5xx_and_no_answer_the_document_does_not_describe(
    live_server: str,
    google: None,
    customer: SignedIn,
    admin: SignedIn,
    make_product: Any,
    tmp_path: Path,
) -> None:
    assert set(PLUGINS) <= set(installed_plugins())
    for _ in range(3):
        await make_product(stock=1000)  # ids the fuzzer's integers may hit
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(live_server, customer, admin))
    junit = tmp_path / "junit.xml"
    st = str(Path(sys.executable).with_name("st"))
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        st,
        "--config-file",
        str(config),
        "run",
        f"{live_server}/api/openapi.json",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIME_BUDGET)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"schemathesis ran past {TIME_BUDGET} s")
    elapsed = time.monotonic() - started
    text = out.decode(errors="replace")
    print(text[-6000:])
    print(f"schemathesis: {elapsed:.0f} s")
    assert proc.returncode == 0, text[-20000:]
    # Every operation of the document was exercised, none left out.
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", text)
    assert selected is not None, text[-3000:]
    assert selected[1] == selected[2] == selected[3], selected[0]
    cases = re.search(r"(\d+) generated, (\d+) passed", text)
    assert cases is not None, text[-3000:]
    # The stateful phase chained calls along the document's links (create product -> add to
    # cart -> order -> cancel, tests/test_openapi_links.py) and the ones it inferred.
    stateful = re.search(r"Scenarios:\s+(\d+)\s+API Links:\s+(\d+) covered / (\d+)", text)
    assert stateful is not None and int(stateful[1]) > 0, text[-3000:]
    print(
        f"fuzzing: {selected[3]} operations, {cases[1]} test cases, {stateful[1]} stateful "
        f"scenarios over {stateful[2]} of {stateful[3]} links, {elapsed:.0f} s"
    )
    # The server is still healthy after the run.
    async with httpx.AsyncClient(base_url=live_server) as c:
        assert (await c.get("/api/health/")).status_code == 200
