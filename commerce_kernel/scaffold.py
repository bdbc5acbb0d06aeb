"""`commerce new-plugin NAME`: a working plugin distribution to start from."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from commerce_kernel import __version__

_FILES: dict[str, str] = {
    "pyproject.toml": """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "commerce-{dist}"
version = "0.1.0"
description = "{name}: a commerce-kernel plugin."
requires-python = ">=3.11"
dependencies = ["commerce-kernel>={kernel_min},<{kernel_next}"]

[project.entry-points."commerce_kernel.plugins"]
{name} = "commerce_{name}"

[tool.setuptools.packages.find]
include = ["commerce_{name}*"]

[tool.setuptools.package-data]
"commerce_{name}" = ["migrations/versions/*.py"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
""",
    "README.md": """# commerce-{dist}

A commerce-kernel plugin. Install it next to the kernel, then migrate:

    pip install -e .
    commerce migrate
    commerce serve

Its route: `GET /api/{slug}/notes/` and `POST /api/{slug}/notes/` (admin).
Tests: `pytest` (uses the kernel's pytest plugin).
""",
    "commerce_{name}/__init__.py": '''"""The {name} plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commerce_kernel import Plugin, hookimpl

__version__ = "0.1.0"

plugin = Plugin(name="{name}", version=__version__, kernel=">={kernel_min},<{kernel_next}",
                description="{name}: notes, an example resource.")


@hookimpl
def migrations_dir() -> Path:
    return Path(__file__).parent / "migrations" / "versions"


# Not named `routes`: importing the `routes` submodule would rebind that package attribute.
@hookimpl(specname="routes")
def add_routes(kernel: Any) -> list[Any]:
    from commerce_{name}.routes import routes

    return routes()
''',
    "commerce_{name}/models.py": '''"""The {name} plugin's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from commerce_kernel.db import Base, UTCDateTime, utcnow


class Note(Base):
    __tablename__ = "{name}_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
''',
    "commerce_{name}/routes.py": '''"""HTTP handlers of the {name} plugin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.routing import BaseRoute

from commerce_kernel.identity import admin
from commerce_kernel.routing import Call, api_route, routes_from
from commerce_{name}.models import Note


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime


@api_route("/api/{slug}/notes/", response=list[NoteOut], tags=["{name}"],
           summary="List notes")
async def list_notes(call: Call) -> Any:
    async with call.kernel.db.session() as session:
        rows = (await session.execute(select(Note).order_by(Note.id))).scalars()
        return [NoteOut.model_validate(n) for n in rows]


@api_route("/api/{slug}/notes/", "POST", guard=admin, body=NoteIn, response=NoteOut,
           status=201, tags=["{name}"], summary="Add a note (admin)")
async def add_note(call: Call) -> Any:
    async with call.kernel.db.transaction() as session:
        note = Note(text=call.body.text)
        session.add(note)
        await session.flush()
        return NoteOut.model_validate(note)


def routes() -> list[BaseRoute]:
    return list(routes_from(list_notes, add_note))
''',
    "commerce_{name}/migrations/__init__.py": "",
    "commerce_{name}/migrations/versions/{name}_0001_notes.py": '''"""{name} notes

Revision ID: {name}_0001
Revises:
Create Date: initial
"""

import sqlalchemy as sa
from alembic import op

import commerce_kernel.db

revision = "{name}_0001"
down_revision = None
branch_labels = ("{name}",)
depends_on = ("kernel_0001",)


def upgrade() -> None:
    op.create_table(
        "{name}_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_{name}_notes")),
    )


def downgrade() -> None:
    op.drop_table("{name}_notes")
''',
    "tests/conftest.py": """import pytest


@pytest.fixture(scope="session")
def commerce_plugins():
    return ["{name}"]
""",
    "tests/test_notes.py": """async def test_admin_adds_a_note_everyone_reads_it(client, admin, customer):
    assert (await customer.client.post("/api/{slug}/notes/", json={{"text": "hi"}})).status_code == 403
    created = await admin.client.post("/api/{slug}/notes/", json={{"text": "hello"}})
    assert created.status_code == 201, created.text
    listed = await client.get("/api/{slug}/notes/")
    assert [n["text"] for n in listed.json()] == ["hello"]


async def test_empty_note_is_refused(admin):
    r = await admin.client.post("/api/{slug}/notes/", json={{"text": ""}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "text"]
""",
}


def valid_name(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name)) and not keyword.iskeyword(name)


def scaffold(name: str, directory: str | Path = ".") -> Path:
    """Write `commerce-NAME/` (pyproject, package, migration branch, a route, a test)."""
    if not valid_name(name):
        raise SystemExit(f"invalid plugin name {name!r}: use lower case letters, digits and _")
    dist = name.replace("_", "-")
    root = Path(directory) / f"commerce-{dist}"
    if root.exists():
        raise SystemExit(f"{root} already exists")
    major, minor, *_ = __version__.split(".")
    values = {
        "name": name,
        "dist": dist,
        "slug": dist,
        "kernel_min": f"{major}.{minor}",
        "kernel_next": f"{major}.{int(minor) + 1}",
    }
    for rel, template in _FILES.items():
        path = root / rel.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
