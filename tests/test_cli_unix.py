"""The `commerce` command behaves as a Unix tool: a reader that goes away (`| head`) ends it
quietly, results go to stdout and progress to stderr, the exit status says what happened, it
says which database it used, and it never makes a password-less admin by accident. Each test
runs the installed `commerce` executable in a subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests import test_cli
from tests.test_cli import COMMERCE, STRONG, Database, base_env, commerce, ok

# test_cli's fixtures: a database per backend, a working directory, one bytecode cache.
db = test_cli.db
cwd = test_cli.cwd
_shared_bytecode_cache = test_cli._shared_bytecode_cache

PIPE_CLOSED = 141  # what a shell reports for a tool stopped by SIGPIPE (`yes | head`)


def shown(database: Database, cwd: Path) -> str:
    """How a command names the database it used: a SQLite file by its absolute path, a
    server by its URL without the password."""
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return f"SQLite file {path if path.is_absolute() else (cwd / path).resolve()}"
    return url.render_as_string(hide_password=True)


def into_closed_pipe(
    *args: str, env: dict[str, str], cwd: Path, stream: str = "stdout"
) -> subprocess.CompletedProcess[str]:
    """`commerce ARGS` with its stdout (or stderr) a pipe whose reader has already gone, the
    limit case of `commerce openapi | head`; the other stream is captured."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        streams = (
            {"stdout": write_end, "stderr": subprocess.PIPE}
            if stream == "stdout"
            else {"stdout": subprocess.PIPE, "stderr": write_end}
        )
        return subprocess.run(
            [str(COMMERCE), *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            **streams,  # type: ignore[call-overload]
        )
    finally:
        os.close(write_end)


# --- a reader that goes away --------------------------------------------------------------


def output_env(buffering: str, **extra: str) -> dict[str, str]:
    """On a pipe, Python buffers stdout (the closed pipe shows at the last flush) unless
    PYTHONUNBUFFERED is set (it shows at the first write): both must end the same way."""
    env = base_env(**extra)
    env.pop("PYTHONUNBUFFERED", None)
    if buffering == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.parametrize("buffering", ["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args",
    [["openapi"], ["plugins"], ["--help"], ["catalog", "import", "-h"]],
)
def test_output_into_a_closed_pipe_ends_quietly(args: list[str], buffering: str, cwd: Path) -> None:
    r = into_closed_pipe(*args, env=output_env(buffering), cwd=cwd)
    assert r.returncode == PIPE_CLOSED, r.stderr
    assert r.stderr == ""


def test_openapi_piped_into_head_ends_quietly(cwd: Path) -> None:
    # The document (every installed plugin) is far larger than a pipe holds: `head` exits
    # while `commerce` is still writing, as in a person's terminal.
    script = '"$0" openapi | head -n 3; echo "exit statuses: ${PIPESTATUS[*]}"'
    r = subprocess.run(
        ["bash", "-c", script, str(COMMERCE)],
        env=base_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[:3] == ["{", '  "openapi": "3.1.0",', '  "info": {'], r.stdout
    assert lines[3:] == [f"exit statuses: {PIPE_CLOSED} 0"]


def test_help_documents_the_exit_statuses(cwd: Path) -> None:
    text = ok(commerce("--help", env=base_env(), cwd=cwd)).stdout
    assert f"{PIPE_CLOSED} the reader of the output went away" in text


# --- which database -----------------------------------------------------------------------


def test_migrate_says_which_database_and_each_revision(db: Database, cwd: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password,guestbook")
    first = ok(commerce("migrate", env=env, cwd=cwd))
    where = shown(db, cwd)
    assert first.stdout.startswith(f"migrated {where}: "), first.stdout
    assert "revisions applied (kernel, auth_password, guestbook)" in first.stdout
    # Progress on stderr, as each revision starts: the database first, then the revisions.
    progress = first.stderr.splitlines()
    assert progress[0] == f"migrating {where}"
    applied = [line.split()[1].rstrip(":") for line in progress[1:]]
    assert applied[0] == "kernel_0001", first.stderr
    assert {"auth_password_0001", "guestbook_0001"} <= set(applied)
    assert db.revisions() <= set(applied)  # every head it recorded was printed

    again = ok(commerce("migrate", env=env, cwd=cwd))
    assert again.stdout == (
        f"migrated {where}: already up to date (kernel, auth_password, guestbook)\n"
    )
    assert again.stderr == f"migrating {where}\n"


def test_migrate_on_the_default_database_names_its_absolute_path(cwd: Path) -> None:
    # DATABASE_URL unset: `./commerce.db` in the working directory, named in full.
    r = ok(commerce("migrate", env=base_env(COMMERCE_PLUGINS="kernel"), cwd=cwd))
    assert r.stdout.startswith(f"migrated SQLite file {cwd.resolve() / 'commerce.db'}: ")
    assert (cwd / "commerce.db").exists()


def test_migrate_never_prints_the_database_password(cwd: Path) -> None:
    # Nothing listens on port 1: the command fails, having said where it tried.
    env = base_env(
        DATABASE_URL="mysql://shop:s3cret-pw@127.0.0.1:1/shop",
        SECRET_KEY="k" * 40,
        EMAIL_TO_LOG_ALLOWED="true",
        COMMERCE_PLUGINS="kernel",
        DB_TIMEOUT="2",
    )
    r = commerce("migrate", env=env, cwd=cwd)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("migrating mysql://shop:***@127.0.0.1:1/shop\n"), r.stderr
    assert "s3cret-pw" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_demo_says_which_database_and_what_it_is_doing(db: Database, cwd: Path) -> None:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password,catalog")
    r = ok(commerce("demo", env=env, cwd=cwd))
    out = r.stdout.splitlines()
    assert out[0].startswith(f"migrated {shown(db, cwd)}: "), r.stdout
    assert out[-1].startswith("admin login: admin@example.com / "), r.stdout
    assert "POST /api/admin/auth/login/" in out[-1]
    steps = r.stderr.splitlines()
    assert steps[0] == f"migrating {shown(db, cwd)}"
    assert "  applying catalog_0001: products" in steps
    assert "creating the admin admin@example.com" in steps
    assert steps[-1] == "adding demo data: catalog"
    assert db.rows("SELECT count(*) FROM products")[0][0] > 0


# --- createsuperuser ----------------------------------------------------------------------


@pytest.fixture
def accounts_env(db: Database, cwd: Path) -> dict[str, str]:
    env = base_env(**db.env, COMMERCE_PLUGINS="auth_password")
    ok(commerce("migrate", env=env, cwd=cwd))
    return env


def run_with_input(
    *args: str, stdin: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMERCE), *args],
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_createsuperuser_without_a_password_off_a_terminal_refuses(
    db: Database, accounts_env: dict[str, str], cwd: Path
) -> None:
    r = commerce("createsuperuser", "--email", "boss@example.com", env=accounts_env, cwd=cwd)
    assert r.returncode == 2
    assert r.stderr.startswith("error: no password given"), r.stderr
    assert "--password-stdin" in r.stderr and "--no-password" in r.stderr
    assert r.stdout == ""
    assert db.rows("SELECT email FROM accounts") == []


@pytest.mark.parametrize("email", ["x", "boss@", "@example.com", "boss example.com"])
def test_createsuperuser_refuses_what_is_not_an_email_address(
    db: Database, accounts_env: dict[str, str], cwd: Path, email: str
) -> None:
    r = commerce(
        "createsuperuser", "--email", email, "--password", STRONG, env=accounts_env, cwd=cwd
    )
    assert r.returncode == 2
    assert r.stderr == f"error: {email!r} is not an email address\n"
    assert db.rows("SELECT email FROM accounts") == []


def test_createsuperuser_reads_the_password_from_stdin(
    db: Database, accounts_env: dict[str, str], cwd: Path
) -> None:
    args = ("createsuperuser", "--email", "boss@example.com", "--password-stdin")
    empty = run_with_input(*args, stdin="\n", env=accounts_env, cwd=cwd)
    assert empty.returncode == 2 and "empty" in empty.stderr
    weak = run_with_input(*args, stdin="short\n", env=accounts_env, cwd=cwd)
    assert weak.returncode == 2 and "password" in weak.stderr.lower(), weak.stderr
    assert db.rows("SELECT email FROM accounts") == []

    made = run_with_input(*args, stdin=f"{STRONG}\n", env=accounts_env, cwd=cwd)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created admin boss@example.com")
    rows = db.rows(
        "SELECT a.is_admin, c.hash FROM accounts a "
        "JOIN password_credentials c ON c.account_id = a.id WHERE a.email = 'boss@example.com'"
    )
    assert [(bool(admin), bool(hashed)) for admin, hashed in rows] == [(True, True)]
    assert STRONG not in rows[0][1]


def test_createsuperuser_no_password_is_said_explicitly(
    db: Database, accounts_env: dict[str, str], cwd: Path
) -> None:
    r = ok(
        commerce(
            "createsuperuser",
            "--email",
            "ops@example.com",
            "--no-password",
            env=accounts_env,
            cwd=cwd,
        )
    )
    assert r.stdout.startswith("created admin ops@example.com")
    assert db.rows("SELECT is_admin FROM accounts WHERE email = 'ops@example.com'") == [(1,)]
    assert db.rows("SELECT count(*) FROM password_credentials") == [(0,)]


def test_createsuperuser_help_says_where_the_password_comes_from(cwd: Path) -> None:
    text = ok(commerce("createsuperuser", "--help", env=base_env(), cwd=cwd)).stdout
    for option in ("--password-stdin", "--password PASSWORD", "--no-password"):
        assert option in text
    assert "refuses" in text


# --- catalog import -----------------------------------------------------------------------

GOOD = "sku,name,price,stock\nCLI-1,Apple,1.00,10\nCLI-2,Banana,0.50,5\nCLI-3,Cherry,2.00,1\n"
# Row 2 has too many price digits, row 3 no SKU.
SOME_BAD = "sku,name,price,stock\nCLI-1,Apple,1.00,10\nCLI-2,Banana,0.501,5\n,Nameless,1.00,1\n"


@pytest.fixture
def catalog_env(db: Database, cwd: Path) -> dict[str, str]:
    env = base_env(**db.env, COMMERCE_PLUGINS="catalog")
    ok(commerce("migrate", env=env, cwd=cwd))
    return env


def products(db: Database) -> list[tuple[object, ...]]:
    return db.rows("SELECT sku, name FROM products ORDER BY sku")


def test_catalog_import_summary_on_stdout_progress_on_stderr(
    db: Database, catalog_env: dict[str, str], cwd: Path
) -> None:
    (cwd / "good.csv").write_text(GOOD)
    r = commerce("catalog", "import", "good.csv", env=catalog_env, cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "succeeded: 3 rows, 3 created, 0 updated, 0 failed\n"
    progress = r.stderr.splitlines()
    assert progress[0].startswith("job ") and progress[0].endswith(": importing good.csv")
    assert progress[-1].startswith("[##############################] 3/3 rows"), r.stderr
    assert products(db) == [("CLI-1", "Apple"), ("CLI-2", "Banana"), ("CLI-3", "Cherry")]


def test_catalog_import_with_failed_rows_exits_1_unless_errors_are_allowed(
    db: Database, catalog_env: dict[str, str], cwd: Path
) -> None:
    (cwd / "some-bad.csv").write_text(SOME_BAD)
    r = commerce("catalog", "import", "some-bad.csv", env=catalog_env, cwd=cwd)
    assert r.returncode == 1, r.stdout + r.stderr
    summary = r.stdout.splitlines()
    assert summary[0] == "succeeded: 3 rows, 1 created, 0 updated, 2 failed"
    assert [line.split()[:2] for line in summary[1:]] == [["row", "2"], ["row", "3"]]
    assert r.stderr.splitlines()[-1] == (
        "error: 2 rows not imported (--allow-errors exits 0 all the same)"
    )
    assert products(db) == [("CLI-1", "Apple")]

    allowed = commerce(
        "catalog", "import", "some-bad.csv", "--allow-errors", env=catalog_env, cwd=cwd
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    # The good row is there already, unchanged.
    assert allowed.stdout.startswith("succeeded: 3 rows, 0 created, 0 updated, 2 failed\n")
    assert "error" not in allowed.stderr


def test_catalog_import_of_an_unreadable_file_exits_2(
    catalog_env: dict[str, str], cwd: Path
) -> None:
    r = commerce("catalog", "import", "missing.csv", env=catalog_env, cwd=cwd)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: cannot read missing.csv"), r.stderr


def test_catalog_import_help_documents_the_exit_statuses(cwd: Path) -> None:
    env = base_env(COMMERCE_PLUGINS="catalog")
    text = ok(commerce("catalog", "import", "--help", env=env, cwd=cwd)).stdout
    assert "--allow-errors" in text and "Exit status" in text


@pytest.mark.parametrize("buffering", ["buffered", "unbuffered"])
def test_catalog_import_whose_reader_went_away_still_imports_everything(
    db: Database, catalog_env: dict[str, str], cwd: Path, buffering: str
) -> None:
    (cwd / "good.csv").write_text(GOOD)
    env = output_env(buffering, **{k: v for k, v in catalog_env.items() if k != "PYTHONUNBUFFERED"})
    r = into_closed_pipe("catalog", "import", "good.csv", env=env, cwd=cwd)
    assert r.returncode == PIPE_CLOSED and r.stderr.startswith("job "), r.stderr
    assert "Traceback" not in r.stderr
    assert len(products(db)) == 3


def test_catalog_import_whose_progress_watcher_went_away_goes_on(
    db: Database, catalog_env: dict[str, str], cwd: Path
) -> None:
    (cwd / "some-bad.csv").write_text(SOME_BAD)
    r = into_closed_pipe(
        "catalog", "import", "some-bad.csv", env=catalog_env, cwd=cwd, stream="stderr"
    )
    assert r.returncode == 1  # the rows that failed, not the progress display
    assert r.stdout.startswith("succeeded: 3 rows, 1 created, 0 updated, 2 failed\n")
    assert products(db) == [("CLI-1", "Apple")]
