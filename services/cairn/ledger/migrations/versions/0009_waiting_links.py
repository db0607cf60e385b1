"""Indexes that keep a publish's cost flat as the registry grows.

- Waiting links by (target_artifact, target_selector). Every publish resolves the links that
  wait for it, including those waiting by digest (`target_artifact IS NULL AND target_selector
  = digest`). `links_unresolved` (on target_artifact alone, every link with no target version)
  also holds every external link (url, no selector), which never resolves: that arm read all of
  them on every publish (39 ms and 3,200 buffers with 200,000 external links). The new index
  leaves out rows with no selector, so the digest arm is one index probe.
- Aliases by version: a version's state (readmodel.versions.STATE_SELECT, read for every
  changelog record and on every version page) lists its aliases, which was a sequential scan
  of the aliases table (one row per artifact at least) per version.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX links_waiting ON links (target_artifact, target_selector)"
               " WHERE target_version_id IS NULL AND target_selector IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS links_unresolved")
    op.execute("CREATE INDEX aliases_version ON aliases (version_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS aliases_version")
    op.execute("CREATE INDEX links_unresolved ON links (target_artifact)"
               " WHERE target_version_id IS NULL")
    op.execute("DROP INDEX IF EXISTS links_waiting")
