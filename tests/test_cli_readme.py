"""What a newcomer does first, as the README says it: `bash scripts/demo` (its own steps, the
addresses it prints, `GET /`), then the "Writing a plugin" steps, followed line by line.

The project's `.venv` is never touched: the demo runs from a copy of `scripts/` whose
`scripts/setup` is a stand-in and whose `.venv/bin/commerce` is this venv's; `pip install`
is a real, non-editable install into a folder put on PYTHONPATH (tests/helpers/install.py)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from commerce_kernel.testing import free_port
from tests import test_cli
from tests.helpers.install import install_target
from tests.test_cli import COMMERCE, base_env, commerce, ok, with_site

_shared_bytecode_cache = test_cli._shared_bytecode_cache  # one bytecode cache for the module

ROOT = Path(__file__).resolve().parent.parent
SETUP_STAND_IN = """#!/usr/bin/env bash
echo "== setup: (stand-in: the test's venv is already set up)" >&2
"""


@dataclass
class Process:
    """A long-running command (`bash scripts/demo`, `commerce serve`) and its output."""

    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/api/health/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"not serving:\n{self.output()}"
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGINT) -> None:
        """As Ctrl-C in its terminal."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(args: list[str], *, env: dict[str, str], cwd: Path, port: int, log: Path) -> Process:
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT
        )
    return Process(proc, log, port)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone as far as the demo needs one: `scripts/demo` as it is in the repository,
    `scripts/setup` a stand-in, `.venv/bin/commerce` the installed command."""
    path = tmp_path / "clone"
    (path / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo", path / "scripts" / "demo")
    (path / "scripts" / "setup").write_text(SETUP_STAND_IN)
    (path / ".venv" / "bin").mkdir(parents=True)
    (path / ".venv" / "bin" / "commerce").symlink_to(COMMERCE)
    return path


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop(signal.SIGTERM)


def run_demo(clone: Path, env: dict[str, str], processes: list[Process]) -> Process:
    port = free_port()
    demo = start(
        ["bash", "scripts/demo"],
        env={**env, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "INFO"},
        cwd=clone,
        port=port,
        log=clone.parent / "demo.log",
    )
    processes.append(demo)
    demo.wait_until_serving()
    return demo


# --- scripts/demo and GET / ---------------------------------------------------------------


def test_demo_says_what_it_does_and_prints_what_to_open(
    clone: Path, processes: list[Process]
) -> None:
    demo = run_demo(clone, base_env(), processes)
    out = demo.output()
    lines = out.splitlines()
    assert "== demo: migrating, creating the admin and the demo catalog (commerce demo)" in lines
    database = clone.resolve() / "commerce.db"
    assert f"migrating SQLite file {database}" in lines
    assert any(line.startswith("  applying catalog_0001") for line in lines), out
    serving = f"serving on {demo.url}  (Ctrl-C stops; run this again after installing a plugin)"
    assert serving in lines
    for path in ("/api/docs/", "/live/"):
        (line,) = [line for line in lines if line.endswith(f"{demo.url}{path}")]
        assert httpx.get(f"{demo.url}{path}", timeout=10).status_code == 200, line
    sign_in = (
        f"  admin sign-in:    POST {demo.url}/api/admin/auth/login/ with the admin login above"
    )
    assert sign_in in lines

    # The admin login it printed works.
    (login,) = re.findall(r"^admin login: (\S+) / (\S+)", out, re.M)
    email, password = login
    signed_in = httpx.post(
        f"{demo.url}/api/admin/auth/login/",
        json={"email": email, "password": password},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["access_token"]

    # The server says which database it serves: the one `commerce demo` migrated.
    assert f"database SQLite file {database}" in out


def test_the_root_leads_to_the_api_docs_and_is_not_an_api_operation(
    clone: Path, processes: list[Process]
) -> None:
    demo = run_demo(clone, base_env(COMMERCE_PLUGINS="auth_password"), processes)
    root = httpx.get(f"{demo.url}/", timeout=10)
    assert root.status_code == 302
    assert root.headers["location"] == "/api/docs/"
    assert "/api/docs/" in root.text  # what curl shows
    followed = httpx.get(f"{demo.url}/", follow_redirects=True, timeout=10)
    assert followed.status_code == 200 and "swagger-ui" in followed.text
    assert httpx.head(f"{demo.url}/", timeout=10).status_code == 302
    doc = httpx.get(f"{demo.url}/api/openapi.json", timeout=10).json()
    assert "/" not in doc["paths"]


# --- scripts/setup ------------------------------------------------------------------------

RECORDING_TOOL = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$RECORD"
"""


def test_setup_says_which_step_runs_and_lets_uv_report_its_progress(tmp_path: Path) -> None:
    # The setup script itself, with its tools (python, uv, apt-get) replaced by ones that
    # record how they were called: what a person sees is the script's steps and uv's output.
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    for name in ("constraints.txt", "requirements-dev.txt"):
        (repo / name).write_text("")
    for plugin in ("alpha", "beta"):
        (repo / "plugins" / plugin).mkdir(parents=True)
        (repo / "plugins" / plugin / "pyproject.toml").write_text("")
    tools = repo / ".venv" / "bin"
    tools.mkdir(parents=True)
    fake_path = tmp_path / "path"
    fake_path.mkdir()
    for tool in (tools / "python", tools / "uv", fake_path / "apt-get"):
        tool.write_text(RECORDING_TOOL)
        tool.chmod(0o755)
    record = tmp_path / "calls"
    env = {
        **base_env(),
        "RECORD": str(record),
        "PATH": f"{fake_path}{os.pathsep}{os.environ['PATH']}",
    }
    r = subprocess.run(
        ["bash", str(repo / "scripts" / "setup")],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    steps = [line for line in r.stderr.splitlines() if line.startswith("== setup:")]
    assert steps[0] == "== setup: installing uv into .venv"
    assert steps[1].startswith("== setup: installing the kernel, 2 plugins and the test tools")
    assert steps[-1] == "== setup: done"
    (install,) = [c for c in record.read_text().splitlines() if c.startswith("uv pip install")]
    words = install.split()
    assert "-q" not in words and "--quiet" not in words, install  # uv prints what it does
    assert {"plugins/alpha/", "plugins/beta/", "requirements-dev.txt"} <= set(words)


# --- "Writing a plugin", step by step -----------------------------------------------------


def readme_steps() -> list[list[str]]:
    """The commands of the README's "Writing a plugin" block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Writing a plugin\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    steps = []
    for line in block.splitlines():
        command = line.split("  #", 1)[0].strip()
        if command and not command.startswith("#"):
            steps.append(shlex.split(command))
    return steps


@dataclass
class Newcomer:
    """Where the README's reader stands: in the clone, with what they installed."""

    clone: Path
    processes: list[Process]
    site: Path
    # As a newcomer's shell: no settings, the default log level.
    env: dict[str, str] = field(default_factory=lambda: base_env(LOG_LEVEL="INFO"))
    server: Process | None = None
    migrated: str = ""

    def installed(self) -> dict[str, str]:
        return with_site(self.env, self.site) if self.site.exists() else self.env


def test_writing_a_plugin_steps_work_as_written(
    clone: Path, processes: list[Process], tmp_path: Path
) -> None:
    me = Newcomer(clone, processes, tmp_path / "site")
    seen = []
    for step in readme_steps():
        seen.append(step[0] if step[0] != "commerce" else f"commerce {step[1]}")
        match step:
            case ["bash", "scripts/demo"]:
                me.server = run_demo(clone, me.env, processes)
            case [".", ".venv/bin/activate"]:
                pass  # `commerce` is the clone's .venv/bin/commerce, this venv's
            case ["commerce", "new-plugin", *_]:
                made = ok(commerce(*step[1:], env=me.env, cwd=clone))
                assert "restart the server" in made.stdout, made.stdout
            case ["pip", "install", "-e", source]:
                install_target(clone / source, me.site)
            case ["commerce", "migrate"]:
                assert me.server is not None
                # The running server does not see the plugin yet: it loads plugins at start.
                notes = httpx.get(f"{me.server.url}/api/shop-extra/notes/", timeout=10)
                assert notes.status_code == 404
                me.migrated = ok(commerce("migrate", env=me.installed(), cwd=clone)).stdout
                database = f"SQLite file {clone.resolve() / 'commerce.db'}"
                assert me.migrated.startswith(f"migrated {database}: 1 revision applied ("), (
                    me.migrated
                )
                assert "shop_extra" in me.migrated
                # ... the database the demo's server named when it started.
                assert f"database {database}" in me.server.output()
            case ["commerce", "serve"]:
                assert me.server is not None
                port = me.server.port
                me.server.stop()  # Ctrl-C in the demo's terminal
                me.server = start(
                    [str(COMMERCE), "serve", "--port", str(port)],
                    env=me.installed(),
                    cwd=clone,
                    port=port,
                    log=tmp_path / "serve.log",
                )
                processes.append(me.server)
                me.server.wait_until_serving()
            case ["curl", "-s", url]:
                assert me.server is not None
                assert url.startswith("localhost:8000/"), url
                answer = httpx.get(me.server.url + url.removeprefix("localhost:8000"), timeout=10)
                assert answer.status_code == 200, answer.text
                assert answer.json() == []
            case ["cd", directory, "&&", "pytest"]:
                # Its own tests: test_cli.py runs them (test_new_plugin_scaffold_installs_...).
                assert (clone / directory / "tests").is_dir()
            case ["mypy", package]:
                # test_cli.py's test_new_plugin_scaffold_passes_mypy runs it.
                assert (clone.parent / "commerce-shop-extra" / package).is_dir()
            case _:
                pytest.fail(f"a README step this test does not follow: {shlex.join(step)}")
    assert seen == [
        "bash",
        ".",
        "commerce new-plugin",
        "pip",
        "commerce migrate",
        "commerce serve",
        "curl",
        "cd",
        "mypy",
    ]
