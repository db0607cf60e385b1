"""A version's state lists the links that reach it; changelog records carry their targets.

- `event_log.link_targets`: the states, as of the event's seq, of the versions a link of the
  event reached (RecordedEvent.link_targets), so the indexer shows what a version was made
  into and evaluated by without reading PostgreSQL. A redelivered input event re-produces
  its record from event_log, so they are kept here too. Derived data beside the hash chain,
  as alias_losers (0008): no existing row's hash changes.
- `links_incoming` replaces `links_target`: a state's newest incoming links
  (readmodel.versions.STATE_SELECT) are one index range, however many versions link to it
  (a dataset thousands of models were trained on); `target_version_id = $1` reads it too.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE event_log ADD COLUMN link_targets jsonb NOT NULL DEFAULT '[]'")
    op.execute("CREATE INDEX links_incoming ON links"
               " (target_version_id, created_seq DESC, id DESC)")
    op.execute("DROP INDEX IF EXISTS links_target")


def downgrade() -> None:
    op.execute("CREATE INDEX links_target ON links (target_version_id)")
    op.execute("DROP INDEX IF EXISTS links_incoming")
    op.execute("ALTER TABLE event_log DROP COLUMN IF EXISTS link_targets")
