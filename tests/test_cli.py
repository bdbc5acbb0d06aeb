"""The `commerce` command line, end to end: the installed `commerce` script run as a real
subprocess, each in its own working directory with an explicit environment, on a SQLite file
and (when COMMERCE_TEST_DATABASE_URL names a MariaDB server) on a fresh MariaDB database."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import commerce_kernel
from commerce_kernel.plugins import installed_plugins
from commerce_kernel.settings import Settings
from commerce_kernel.testing import free_port
from tests.helpers.install import install_target

COMMERCE = Path(sys.executable).with_name("commerce")
MARIADB = os.environ.get("COMMERCE_TEST_DATABASE_URL") or None
REDIS = os.environ.get("COMMERCE_TEST_REDIS_URL") or None
BACKENDS = ["sqlite", *(["mariadb"] if MARIADB else [])]
SECRET = "cli-test-secret-key-" + "x" * 32
KERNEL_TABLES = {"accounts", "refresh_tokens", "kernel_event_deliveries"}
STRONG = "correct-horse-battery-staple"
DOCUMENTED = ["migrate", "serve", "worker", "createsuperuser", "plugins", "openapi", "new-plugin"]


# --- running the command ------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything the CLI would read as a setting (the
    developer's DATABASE_URL, REDIS_URL, COMMERCE_PLUGINS, ...) or the test kit's variables."""
    env = dict(os.environ)
    for name in Settings.model_fields:
        env.pop(name.upper(), None)
    for key in list(env):
        if key.startswith("COMMERCE_TEST_") or key == "COMMERCE_REQUIRE_SERVICES":
            del env[key]
    env["LOG_LEVEL"] = "WARNING"
    if _pycache is not None:
        # Compile the kernel and its libraries once for all these processes, not per process
        # (bytecode caching changes nothing a user sees; the cache lives outside the repo).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(_pycache)
    env.update(extra)
    return env


_pycache: Path | None = None


@pytest.fixture(scope="module", autouse=True)
def _shared_bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    global _pycache
    _pycache = tmp_path_factory.mktemp("pycache")
    yield
    _pycache = None


def with_site(env: dict[str, str], site: Path) -> dict[str, str]:
    """`env` with `site` (a --target install) first on PYTHONPATH."""
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))}


def commerce(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMERCE), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{result.args[1:]} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


# --- a database per test ------------------------------------------------------------------


@dataclass
class Database:
    """An empty database the CLI is pointed at, and a sync view of it for the assertions."""

    url: str  # as a deployer writes DATABASE_URL
    sync_url: Any
    env: dict[str, str] = field(default_factory=dict)

    def _engine(self) -> sa.Engine:
        # NullPool: no connection stays open (and holds no lock) while the CLI runs.
        return sa.create_engine(self.sync_url, poolclass=NullPool)

    def schema(self) -> dict[str, Any]:
        """Every table with its columns, indexes and unique constraints."""
        engine = self._engine()
        try:
            with engine.connect() as conn:
                insp = sa.inspect(conn)
                return {
                    table: {
                        "columns": [
                            (c["name"], str(c["type"]), c["nullable"])
                            for c in insp.get_columns(table)
                        ],
                        "indexes": sorted(i["name"] or "" for i in insp.get_indexes(table)),
                        "unique": sorted(
                            u["name"] or "" for u in insp.get_unique_constraints(table)
                        ),
                    }
                    for table in insp.get_table_names()
                }
        finally:
            engine.dispose()

    def tables(self) -> set[str]:
        return set(self.schema())

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = self._engine()
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(sql), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def revisions(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT version_num FROM alembic_version")}


def _mariadb(tmp_path: Path) -> Iterator[Database]:
    assert MARIADB is not None
    server = make_url(MARIADB)
    name = f"ck_cli_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        server.set(drivername="mysql+pymysql", database=None), poolclass=NullPool
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield Database(
            url,
            server.set(drivername="mysql+pymysql", database=name),
            {"DATABASE_URL": url, "SECRET_KEY": SECRET, "EMAIL_TO_LOG_ALLOWED": "true"},
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database: a SQLite file, or a fresh
    MariaDB database on the COMMERCE_TEST_DATABASE_URL server, dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'commerce.db'}"
        yield Database(
            url, url, {"DATABASE_URL": url, "SECRET_KEY": SECRET, "EMAIL_TO_LOG_ALLOWED": "true"}
        )
    else:
        yield from _mariadb(tmp_path)


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """The working directory of this test's commands (no `.env` in it)."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


# --- one scaffolded plugin, installed once ------------------------------------------------


@dataclass
class Scaffold:
    source: Path  # what `commerce new-plugin shop_extra` wrote
    site: Path  # where it is installed (not editable)
    output: str


@pytest.fixture(scope="module")
def shop_extra(tmp_path_factory: pytest.TempPathFactory) -> Scaffold:
    """`commerce new-plugin shop_extra`, installed non-editable into its own site dir."""
    where = tmp_path_factory.mktemp("scaffold")
    made = ok(
        commerce("new-plugin", "shop_extra", "--directory", str(where), env=base_env(), cwd=where)
    )
    source = where / "commerce-shop-extra"
    site = tmp_path_factory.mktemp("site")
    install_target(source, site)
    return Scaffold(source, site, made.stdout)


def fresh_site(scaffold: Scaffold, tmp_path: Path) -> Path:
    """A private copy of the installed plugin, for a test that edits it."""
    site = tmp_path / "site"
    shutil.copytree(scaffold.site, site)
    return site


def snapshot(*dirs: Path) -> dict[str, str]:
    return {
        str(p): p.read_text()
        for d in dirs
        for p in sorted(d.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


# --- 1. migrate ---------------------------------------------------------------------------


def test_migrate_creates_the_tables_and_is_idempotent(db: Database, cwd: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password,guestbook")
    assert db.tables() == set()

    ok(commerce("migrate", env=env, cwd=cwd))
    tables = db.tables()
    assert KERNEL_TABLES | {"guestbook_entries", "alembic_version"} <= tables
    db.rows(
        "INSERT INTO accounts (email, name, is_admin, is_active, created_at) "
        "VALUES ('kept@example.com', 'Kept', 0, 1, '2026-01-01 00:00:00')"
    )
    schema, revisions = db.schema(), db.revisions()

    ok(commerce("migrate", env=env, cwd=cwd))
    assert db.schema() == schema
    assert db.revisions() == revisions
    assert db.rows("SELECT email FROM accounts") == [("kept@example.com",)]


# --- 2. enabling and disabling plugins later ----------------------------------------------


def test_plugin_enabled_later_gets_its_tables_and_disabling_it_keeps_working(
    db: Database, cwd: Path
) -> None:
    everything = ",".join(sorted(set(installed_plugins()) - {"kernel"}))
    assert "guestbook" in everything
    env = base_env(**db.env)

    ok(commerce("migrate", env={**env, "COMMERCE_DISABLED_PLUGINS": everything}, cwd=cwd))
    assert db.tables() == KERNEL_TABLES | {"alembic_version"}
    db.rows(
        "INSERT INTO accounts (email, name, is_admin, is_active, created_at) "
        "VALUES ('first@example.com', 'First', 1, 1, '2026-01-01 00:00:00')"
    )
    kernel_schema = {t: s for t, s in db.schema().items() if t in KERNEL_TABLES}

    ok(commerce("migrate", env={**env, "COMMERCE_PLUGINS": "guestbook"}, cwd=cwd))
    schema = db.schema()
    assert "guestbook_entries" in schema
    assert {t: s for t, s in schema.items() if t in KERNEL_TABLES} == kernel_schema
    assert db.rows("SELECT email, is_admin FROM accounts") == [("first@example.com", 1)]
    db.rows(
        "INSERT INTO guestbook_entries (account_id, text, created_at) "
        "VALUES (1, 'hello', '2026-01-01 00:00:00')"
    )

    # Disabled after its migration ran: its revision must still resolve, its data stays.
    ok(commerce("migrate", env={**env, "COMMERCE_PLUGINS": "kernel"}, cwd=cwd))
    assert db.schema() == schema
    assert db.rows("SELECT text FROM guestbook_entries") == [("hello",)]

    # ... and enabling it again changes nothing.
    ok(commerce("migrate", env={**env, "COMMERCE_PLUGINS": "guestbook"}, cwd=cwd))
    assert db.schema() == schema


def test_uninstalled_plugin_whose_migrations_ran_is_reported_clearly(
    shop_extra: Scaffold, db: Database, cwd: Path
) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="shop_extra")
    ok(commerce("migrate", env=with_site(env, shop_extra.site), cwd=cwd))

    gone = commerce("migrate", env={**env, "COMMERCE_PLUGINS": "kernel"}, cwd=cwd)
    assert gone.returncode == 1, gone.stderr
    assert "shop_extra_0001" in gone.stderr
    assert "uninstalled" in gone.stderr
    assert "Traceback" not in gone.stderr


# --- 3. makemigrations --------------------------------------------------------------------

TAG_MODEL = """

class Tag(Base):
    __tablename__ = "shop_extra_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)
"""


def _tables_touched(script: str) -> set[str]:
    """Every table a migration script's operations name."""
    calls = re.findall(
        r"op\.(?:create_table|drop_table|batch_alter_table|add_column|drop_column|"
        r"alter_column|create_index|drop_index|rename_table)\(\s*['\"](\w+)['\"]",
        script,
    )
    on_table = re.findall(r"table_name=['\"](\w+)['\"]", script)
    return set(calls) | set(on_table)


def test_makemigrations_writes_only_the_plugins_own_changes_into_its_folder(
    shop_extra: Scaffold, db: Database, cwd: Path, tmp_path: Path
) -> None:
    site = fresh_site(shop_extra, tmp_path)
    package = site / "commerce_shop_extra"
    versions = package / "migrations" / "versions"
    env = with_site(base_env(**db.env), site)
    # guestbook's table is in the database, but guestbook is disabled when autogenerating:
    # an unfiltered autogenerate would propose dropping it (and the kernel's, and creating
    # the tables of every installed plugin it imported).
    ok(commerce("migrate", env={**env, "COMMERCE_PLUGINS": "shop_extra,guestbook"}, cwd=cwd))
    assert {"shop_extra_notes", "guestbook_entries"} <= db.tables()

    with (package / "models.py").open("a") as fh:
        fh.write(TAG_MODEL)
    guestbook = importlib.util.find_spec("commerce_guestbook")
    assert guestbook is not None and guestbook.origin is not None
    elsewhere = [
        Path(commerce_kernel.__file__).parent / "migrations",
        Path(guestbook.origin).parent,
        shop_extra.source,
    ]
    before, before_elsewhere = set(versions.iterdir()), snapshot(*elsewhere)

    env = {**env, "COMMERCE_PLUGINS": "shop_extra"}
    made = ok(commerce("makemigrations", "shop_extra", "-m", "tags", env=env, cwd=cwd))

    new = sorted(set(versions.iterdir()) - before)
    assert [p.name for p in new if p.suffix == ".py"] == ["shop_extra_0002_tags.py"], made.stdout
    assert "shop_extra_0002_tags.py" in made.stdout
    assert snapshot(*elsewhere) == before_elsewhere
    assert not list(cwd.rglob("*.py"))
    script = new[0].read_text()
    upgrade = script.split("def downgrade")[0]
    assert re.search(r"op\.create_table\(\s*['\"]shop_extra_tags['\"]", upgrade), script
    assert "drop_" not in upgrade, script
    assert _tables_touched(script) == {"shop_extra_tags"}, script
    assert "down_revision" in script and "shop_extra_0001" in script

    ok(commerce("migrate", env=env, cwd=cwd))
    tables = db.tables()
    assert {"shop_extra_tags", "shop_extra_notes", "guestbook_entries"} <= tables
    assert KERNEL_TABLES <= tables
    assert "shop_extra_0002" in db.revisions()

    # Nothing changed since: no new (empty) migration.
    again = ok(commerce("makemigrations", "shop_extra", "-m", "again", env=env, cwd=cwd))
    assert sorted(p.name for p in versions.glob("*.py")) == [
        "shop_extra_0001_notes.py",
        "shop_extra_0002_tags.py",
    ], again.stdout
    assert "no migration created" in again.stdout


def test_makemigrations_for_a_plugin_not_enabled_is_refused(
    shop_extra: Scaffold, db: Database, cwd: Path
) -> None:
    env = with_site(base_env(**db.env, COMMERCE_PLUGINS="guestbook"), shop_extra.site)
    r = commerce("makemigrations", "shop_extra", env=env, cwd=cwd)
    assert r.returncode != 0
    assert "shop_extra" in r.stderr and "not enabled" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in shop_extra.site.rglob("shop_extra_0*.py")) == [
        "shop_extra_0001_notes.py"
    ]


# --- 4. new-plugin ------------------------------------------------------------------------


def test_new_plugin_scaffold_installs_and_its_own_tests_pass(shop_extra: Scaffold) -> None:
    assert "commerce-shop-extra" in shop_extra.output
    installed = shop_extra.site / "commerce_shop_extra"
    assert (installed / "migrations" / "versions" / "shop_extra_0001_notes.py").exists()
    assert (installed / "py.typed").exists()
    (entry_points,) = shop_extra.site.glob("commerce_shop_extra-*.dist-info/entry_points.txt")
    assert "shop_extra = commerce_shop_extra.plugin" in entry_points.read_text()
    # The plugin's tests run on this run's backend (the test kit reads COMMERCE_TEST_*).
    env = {k: v for k, v in base_env().items() if not k.startswith("PYTEST_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("COMMERCE_TEST_")})
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=shop_extra.source,
        env=with_site(env, shop_extra.site),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # Routes (2), the task, the cron job, the settings section, the optional order listener.
    assert re.search(r"\b6 passed\b", r.stdout), r.stdout


def test_new_plugin_migrates_and_its_route_is_in_openapi(
    shop_extra: Scaffold, db: Database, cwd: Path
) -> None:
    env = with_site(base_env(**db.env, COMMERCE_PLUGINS="shop_extra"), shop_extra.site)
    ok(commerce("migrate", env=env, cwd=cwd))
    assert {"shop_extra_notes"} | KERNEL_TABLES <= db.tables()

    doc = json.loads(ok(commerce("openapi", env=env, cwd=cwd)).stdout)
    notes = doc["paths"]["/api/shop-extra/notes/"]
    assert {"get", "post"} <= set(notes)
    assert "/api/health/" in doc["paths"]


@pytest.mark.parametrize("name", ["Bad-Name", "class", "kernel"])
def test_new_plugin_refuses_an_invalid_name(name: str, cwd: Path) -> None:
    r = commerce("new-plugin", name, "--directory", str(cwd), env=base_env(), cwd=cwd)
    assert r.returncode != 0
    assert "invalid plugin name" in r.stderr and name in r.stderr
    assert list(cwd.iterdir()) == []


def test_new_plugin_does_not_overwrite_an_existing_plugin(shop_extra: Scaffold) -> None:
    before = snapshot(shop_extra.source)
    where = shop_extra.source.parent
    r = commerce("new-plugin", "shop_extra", "--directory", str(where), env=base_env(), cwd=where)
    assert r.returncode != 0
    assert "already exists" in r.stderr
    assert snapshot(shop_extra.source) == before


# --- 5. createsuperuser -------------------------------------------------------------------


def test_createsuperuser(db: Database, cwd: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password")
    ok(commerce("migrate", env=env, cwd=cwd))

    args = ("createsuperuser", "--email", "Boss@Example.com")
    without = commerce(
        *args, "--password", STRONG, env={**env, "COMMERCE_PLUGINS": "kernel"}, cwd=cwd
    )
    assert without.returncode == 2, without.stderr
    assert "auth_password" in without.stderr
    assert db.rows("SELECT email FROM accounts") == []

    weak = commerce(*args, "--password", "short", env=env, cwd=cwd)
    assert weak.returncode == 2, weak.stderr
    assert "password" in weak.stderr.lower() and "Traceback" not in weak.stderr
    assert db.rows("SELECT email FROM accounts") == []

    made = ok(commerce(*args, "--password", STRONG, env=env, cwd=cwd))
    assert "boss@example.com" in made.stdout.lower()
    accounts = db.rows("SELECT email, is_admin FROM accounts")
    assert [(e.lower(), bool(a)) for e, a in accounts] == [("boss@example.com", True)]


def test_createsuperuser_on_an_unmigrated_database_says_so(db: Database, cwd: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password")
    r = commerce(
        "createsuperuser", "--email", "a@example.com", "--password", STRONG, env=env, cwd=cwd
    )
    assert r.returncode != 0
    assert "commerce migrate" in r.stderr
    assert "Traceback" not in r.stderr


# --- 6. plugins and --help ----------------------------------------------------------------


def test_plugins_lists_name_version_distribution_and_hooks(cwd: Path) -> None:
    env = base_env(COMMERCE_PLUGINS="guestbook,auth_password")

    rows = json.loads(ok(commerce("plugins", "--json", env=env, cwd=cwd)).stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"kernel", "guestbook", "auth_password"}
    assert rows[0]["name"] == "kernel"
    guestbook = by_name["guestbook"]
    assert guestbook["version"] == "0.0.1"
    assert guestbook["distribution"] == "commerce-test-guestbook"
    assert {"migrations_dir", "routes", "tasks", "middleware"} <= set(guestbook["hooks"])
    assert "set_password" in by_name["auth_password"]["hooks"]
    assert by_name["auth_password"]["distribution"] == "commerce-auth-password"

    text = ok(commerce("plugins", env=env, cwd=cwd)).stdout
    assert re.search(r"^guestbook 0\.0\.1 \(commerce-test-guestbook\)", text, re.M), text
    assert re.search(r"^kernel \S+ \(commerce-kernel\)", text, re.M), text
    hooks_line = text.split("guestbook 0.0.1", 1)[1].splitlines()[1]
    assert "hooks:" in hooks_line and "middleware" in hooks_line and "tasks" in hooks_line


def test_help_lists_every_documented_command(cwd: Path) -> None:
    out = ok(commerce("--help", env=base_env(), cwd=cwd)).stdout
    for name in [*DOCUMENTED, "makemigrations"]:
        assert re.search(rf"^\s+{re.escape(name)}\b", out, re.M), f"{name} missing:\n{out}"


def test_unknown_plugin_in_commerce_plugins_is_one_clear_message(cwd: Path) -> None:
    r = commerce("plugins", env=base_env(COMMERCE_PLUGINS="nosuchplugin"), cwd=cwd)
    assert r.returncode == 2
    assert "nosuchplugin" in r.stderr and "not installed" in r.stderr
    assert "Traceback" not in r.stderr


# --- 7. serve -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://shop:pw@127.0.0.1:1/shop", "sqlite:///./shop.db"])
def test_serve_refuses_a_database_url_without_secret_key(cwd: Path, url: str) -> None:
    env = base_env(DATABASE_URL=url, COMMERCE_PLUGINS="kernel")
    r = commerce("serve", "--port", str(free_port()), env=env, cwd=cwd, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: SECRET_KEY is required when DATABASE_URL is set"
    assert not (cwd / ".commerce-secret-key").exists()


def test_serve_refuses_several_workers_without_redis(cwd: Path) -> None:
    env = base_env(COMMERCE_PLUGINS="kernel")
    r = commerce(
        "serve", "--workers", "2", "--port", str(free_port()), env=env, cwd=cwd, timeout=60
    )
    assert r.returncode == 2
    assert "REDIS_URL" in r.stderr


def test_serve_answers_health_and_readiness(db: Database, cwd: Path, tmp_path: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="guestbook")
    ok(commerce("migrate", env=env, cwd=cwd))
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [str(COMMERCE), "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        health = None
        while health is None:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {_read(log)}"
            try:
                health = httpx.get(f"{url}/api/health/", timeout=2)
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve did not answer: {_read(log)}"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = httpx.get(f"{url}/api/ready/", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        assert httpx.get(f"{url}/api/guestbook/", timeout=5).json() == []
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log_text = _read(log)
        log.close()
    assert "Traceback" not in log_text, log_text
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert code in (0, -signal.SIGTERM), f"serve exited {code} on SIGTERM: {log_text}"


def _read(log: Any) -> str:
    log.flush()
    log.seek(0)
    return str(log.read())


# --- 8. worker ----------------------------------------------------------------------------


def test_worker_without_redis_refuses_to_start(cwd: Path) -> None:
    r = commerce("worker", env=base_env(COMMERCE_PLUGINS="guestbook"), cwd=cwd, timeout=60)
    assert r.returncode == 2
    assert "REDIS_URL" in r.stderr


@pytest.mark.skipif(not REDIS, reason="needs COMMERCE_TEST_REDIS_URL")
def test_worker_with_redis_runs_and_exits_in_burst_mode(cwd: Path) -> None:
    assert REDIS is not None
    env = base_env(
        COMMERCE_PLUGINS="guestbook", REDIS_URL=REDIS, REDIS_PREFIX=f"ctcli{uuid.uuid4().hex[:8]}:"
    )
    ok(commerce("worker", "--burst", "--no-cron", env=env, cwd=cwd, timeout=60))


def test_commands_that_only_read_write_no_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = base_env(COMMERCE_PLUGINS="guestbook,auth_password")
    env.pop("SECRET_KEY", None)
    for args in (["--help"], ["plugins"], ["plugins", "--json"], ["openapi"], ["serve", "--help"]):
        ok(commerce(*args, env=env, cwd=empty))
    assert list(empty.iterdir()) == []


def test_new_plugin_scaffold_passes_mypy(shop_extra: Scaffold, tmp_path: Path) -> None:
    """The generated package type-checks with its own (strict) mypy settings."""
    env = base_env()
    kernel_root = Path(commerce_kernel.__file__).parent.parent
    if "site-packages" not in kernel_root.parts:
        # An editable kernel is found through setuptools' import hook, which mypy does not run.
        env["MYPYPATH"] = str(kernel_root)
    mypy = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy")]
    r = subprocess.run(
        [*mypy, "commerce_shop_extra"],
        cwd=shop_extra.source,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout, r.stdout
