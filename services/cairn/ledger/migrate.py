"""Schema migrations with Alembic (plain SQL revisions), run by the ledger at start-up.

Only the ledger writes PostgreSQL, so only the ledger migrates it; an advisory lock in the
migration environment lets several ledger instances start at once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def sqlalchemy_url(database_url: str) -> str:
    """asyncpg takes postgresql://; SQLAlchemy needs the psycopg driver named."""
    scheme, rest = database_url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else database_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
