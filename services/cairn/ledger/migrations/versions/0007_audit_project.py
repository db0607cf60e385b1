"""Audit by project: an index on the project an event_log entry belongs to.

`GET /v1/audit?project=P` (a project's maintainers always give one) filtered every entry of
the log by an expression, newest first: a scan of the whole log for a quiet project. This
indexes that very expression (cairn.api.routers.audit.PROJECT_OF, which must stay the same
text for the planner to match it) with seq, so a project's entries are read newest first
straight from the index. Only an index: no row of the hash chain changes.

Built inside the migration's transaction (not CONCURRENTLY): the ledger migrates before it
consumes, so nothing writes event_log meanwhile; a very long log makes start-up that much
slower, once.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# the project of an entry: a refusal's (its body), a project's or retention policy's own
# configuration (its key), else the artifact's project
PROJECT_OF = """CASE
  WHEN event_type = 'AccessDenied' THEN (event->>'body')::jsonb->>'project'
  WHEN event_type = 'ConfigChanged' THEN
    CASE WHEN event->>'kind' IN ('project', 'retention_policy') THEN event->>'key' END
  ELSE split_part(artifact, '/', 1) END"""


def upgrade() -> None:
    op.execute(f"CREATE INDEX event_log_project ON event_log (({PROJECT_OF}), seq)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS event_log_project")
