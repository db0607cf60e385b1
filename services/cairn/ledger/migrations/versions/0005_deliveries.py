"""Deliveries: the notifier's delivery log, one row per webhook attempt.

Not chained: an attempt changes no artifact. The notifier reports each attempt on
cairn.notifier.deliveries and the ledger inserts it here; the primary key is the attempt's
event_id, so a redelivered report inserts nothing. `delivery_id` is the same for every attempt
at one notification (hash of subscription id and changelog seq), `state` is where that
delivery stood after the attempt: retrying, delivered or dead.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE deliveries (
    event_id      uuid PRIMARY KEY,
    subscription  text NOT NULL,
    team          text NOT NULL,
    delivery_id   text NOT NULL,
    seq           bigint NOT NULL,          -- the changelog entry being notified
    event_type    text NOT NULL,
    artifact      text NOT NULL,
    target        text NOT NULL,            -- scheme, host and port: never the path
    attempt       integer NOT NULL CHECK (attempt >= 1),
    status_code   integer,                  -- null when no answer came (error says why)
    error         text,
    duration_ms   double precision NOT NULL,
    state         text NOT NULL CHECK (state IN ('delivered', 'retrying', 'dead')),
    attempted_at  timestamptz NOT NULL,
    next_attempt_at timestamptz,            -- set while retrying
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX deliveries_subscription ON deliveries (subscription, attempted_at DESC, event_id DESC);
CREATE INDEX deliveries_delivery ON deliveries (delivery_id, attempt);
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS deliveries")
