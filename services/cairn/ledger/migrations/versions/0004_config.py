"""Configuration items (subscriptions, retention policies): the current value of each, as
recorded from cairn.config.events. Their history is the hash-chained event_log itself
(event_type 'ConfigChanged', artifact '<kind>/<key>').

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE config_items (
    kind        text NOT NULL,
    key         text NOT NULL,
    body        jsonb,            -- null once removed: the key stays, so its history does
    removed     boolean NOT NULL DEFAULT false,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    seq         bigint NOT NULL,  -- the event_log entry that set this value
    PRIMARY KEY (kind, key)
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
