"""search columns and indexes, bulk upload jobs

Revision ID: catalog_0002
Revises: catalog_0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import commerce_kernel.db

revision = "catalog_0002"
down_revision = "catalog_0001"
branch_labels = None
depends_on = None

_LONG = sa.Text().with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    is_mysql = op.get_bind().dialect.name == "mysql"
    if is_mysql:
        # Byte-exact comparison: SKUs are upper-cased on input, search text case-folded.
        op.execute("ALTER TABLE products MODIFY sku VARCHAR(64) COLLATE utf8mb4_bin NOT NULL")
        op.execute(
            "ALTER TABLE products"
            " ADD COLUMN search_text MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',"
            " ADD COLUMN search_tokens LONGTEXT NOT NULL DEFAULT ''"
        )
        # Without stopwords: "with" or "the" inside a product name must stay findable. The
        # setting is read when the index is built and sticks to the index.
        op.execute("SET SESSION innodb_ft_enable_stopword = OFF")
        op.execute("CREATE FULLTEXT INDEX ft_products_search_tokens ON products (search_tokens)")
    else:
        op.add_column(
            "products", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
        )
        op.add_column(
            "products", sa.Column("search_tokens", sa.Text(), nullable=False, server_default="")
        )
        # A trigram index over the case-folded text: exact substring search for terms of
        # three characters or more, kept in step by triggers.
        op.execute(
            "CREATE VIRTUAL TABLE products_fts USING fts5(search_text, content='products',"
            " content_rowid='id', tokenize='trigram case_sensitive 1')"
        )
        op.execute(
            "CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN"
            " INSERT INTO products_fts(rowid, search_text) VALUES (new.id, new.search_text);"
            " END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN"
            " INSERT INTO products_fts(products_fts, rowid, search_text)"
            " VALUES ('delete', old.id, old.search_text);"
            " END"
        )
        op.execute(
            "CREATE TRIGGER products_fts_au AFTER UPDATE OF search_text ON products BEGIN"
            " INSERT INTO products_fts(products_fts, rowid, search_text)"
            " VALUES ('delete', old.id, old.search_text);"
            " INSERT INTO products_fts(rowid, search_text) VALUES (new.id, new.search_text);"
            " END"
        )

    op.create_table(
        "catalog_bulk_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("file_format", sa.String(8), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", commerce_kernel.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", commerce_kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_bulk_jobs")),
    )
    op.create_table(
        "catalog_bulk_job_chunks",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("rows", _LONG, nullable=True),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", _LONG, nullable=True),
        sa.Column("finished_at", commerce_kernel.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["catalog_bulk_jobs.id"],
            name=op.f("fk_catalog_bulk_job_chunks_job_id_catalog_bulk_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_catalog_bulk_job_chunks")),
    )
    op.create_index(
        "ix_catalog_bulk_job_chunks_job_status",
        "catalog_bulk_job_chunks",
        ["job_id", "status"],
    )


def downgrade() -> None:
    op.drop_table("catalog_bulk_job_chunks")
    op.drop_table("catalog_bulk_jobs")
    if op.get_bind().dialect.name == "mysql":
        op.drop_index("ft_products_search_tokens", table_name="products")
        op.drop_column("products", "search_tokens")
        op.drop_column("products", "search_text")
        op.execute("ALTER TABLE products MODIFY sku VARCHAR(64) NOT NULL")
    else:
        for trigger in ("products_fts_ai", "products_fts_ad", "products_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS products_fts")
        op.drop_column("products", "search_tokens")
        op.drop_column("products", "search_text")
