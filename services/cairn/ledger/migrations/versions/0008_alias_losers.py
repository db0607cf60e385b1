"""Changelog records name the versions an event took an alias from.

A publish takes `latest` from the previous newest version, an AliasMoved takes its alias from
the version that held it. The changelog record carries those versions' states as of the
event's seq (RecordedEvent.alias_losers), so the indexer can drop the alias from their
documents without reading PostgreSQL. A redelivered input event re-produces its record
from event_log, so the states are kept here too. Derived data beside the hash chain, not
part of it: no existing row's hash changes.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE event_log ADD COLUMN alias_losers jsonb NOT NULL DEFAULT '[]'")


def downgrade() -> None:
    op.execute("ALTER TABLE event_log DROP COLUMN IF EXISTS alias_losers")
