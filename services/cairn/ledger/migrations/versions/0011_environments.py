"""Environments stored once, by digest (issue 11, a lean changelog).

- `environments`: one row per distinct environment, its digest (sha256 of its canonical JSON,
  cairn.core.domain.environments.environment_digest) the key, and `first_seq`, the seq of
  the entry that first recorded it: that changelog record carries the whole environment
  (RecordedEvent.environment), later ones only the digest.
- `versions.environment_digest` replaces `versions.environment` (about 10 KB a version with
  150 packages): readers join `environments`.

Existing versions are backfilled: each distinct environment is hashed once (in Python: the
digest is canonical JSON's, which SQL cannot print), then two set-based statements fill
`environments` and every version's digest. Event_log rows are untouched: their states keep
the environment they were hashed with.

Revision ID: 0011
Revises: 0010
"""

import json

import sqlalchemy as sa
from alembic import op
from cairn.core.domain.environments import environment_digest

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE environments (digest text PRIMARY KEY, body jsonb NOT NULL,"
               " first_seq bigint NOT NULL)")
    op.execute("CREATE INDEX environments_first_seq ON environments (first_seq)")
    op.execute("ALTER TABLE versions ADD COLUMN environment_digest text"
               " REFERENCES environments (digest)")
    bind = op.get_bind()
    bodies = [row[0] for row in bind.execute(sa.text(
        "SELECT DISTINCT environment::text FROM versions"))]
    if bodies:
        digests = [environment_digest(json.loads(body)) for body in bodies]
        bind.execute(sa.text(
            "CREATE TEMP TABLE environment_map ON COMMIT DROP AS"
            " SELECT b::jsonb AS body, d AS digest"
            " FROM unnest(CAST(:bodies AS text[]), CAST(:digests AS text[])) AS u(b, d)"),
            {"bodies": bodies, "digests": digests})
        op.execute("INSERT INTO environments (digest, body, first_seq)"
                   " SELECT m.digest, m.body, min(v.created_seq) FROM environment_map m"
                   " JOIN versions v ON v.environment = m.body GROUP BY m.digest, m.body"
                   " ON CONFLICT DO NOTHING")
        op.execute("UPDATE versions v SET environment_digest = m.digest FROM environment_map m"
                   " WHERE v.environment = m.body")
    op.execute("ALTER TABLE versions ALTER COLUMN environment_digest SET NOT NULL")
    op.execute("CREATE INDEX versions_environment ON versions (environment_digest)")
    op.execute("ALTER TABLE versions DROP COLUMN environment")


def downgrade() -> None:
    op.execute("ALTER TABLE versions ADD COLUMN environment jsonb")
    op.execute("UPDATE versions v SET environment = e.body FROM environments e"
               " WHERE e.digest = v.environment_digest")
    op.execute("ALTER TABLE versions ALTER COLUMN environment SET NOT NULL")
    op.execute("ALTER TABLE versions DROP COLUMN environment_digest")
    op.execute("DROP TABLE environments")
