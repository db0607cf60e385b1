"""Usage: each counted event once (dedupe by event_id) and running counts per version.

Usage is not chained: a view or a download changes no artifact. `usage_events` keeps every
counted event, so `usage_counts` can always be rebuilt from it; `updated_at` lets the
indexer pick up the versions whose counts moved.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE usage_events (
    event_id    uuid PRIMARY KEY,
    version_id  bigint NOT NULL REFERENCES versions (id),
    action      text NOT NULL,
    retrieve_ms bigint,
    actor       text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX usage_events_version ON usage_events (version_id, at);

CREATE TABLE usage_counts (
    version_id        bigint PRIMARY KEY REFERENCES versions (id),
    views             bigint NOT NULL DEFAULT 0,
    downloads         bigint NOT NULL DEFAULT 0,
    retrieves         bigint NOT NULL DEFAULT 0,
    retrieve_ms_total bigint NOT NULL DEFAULT 0,
    last_used_at      timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX usage_counts_updated ON usage_counts (updated_at);
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS usage_counts, usage_events CASCADE")
