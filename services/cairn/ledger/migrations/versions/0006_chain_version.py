"""The hash chain's format per event_log row (cairn.core.domain.chain explains both formats).

Rows recorded so far keep format 1, whose hash does not cover `state` or `version_id`; every
row from now on is format 2, whose hash covers them. Old rows are not rehashed: that would
make the chain vouch for values nobody vouched for when they were written. No default
after this: a writer that does not say which format it hashed with is refused.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE event_log ADD COLUMN chain_version smallint NOT NULL DEFAULT 1"
               " CHECK (chain_version IN (1, 2))")
    op.execute("ALTER TABLE event_log ALTER COLUMN chain_version DROP DEFAULT")


def downgrade() -> None:
    op.execute("ALTER TABLE event_log DROP COLUMN IF EXISTS chain_version")
