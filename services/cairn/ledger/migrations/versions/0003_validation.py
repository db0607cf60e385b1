"""Validation: each version's metadata completeness score, from the validator's verdicts.

`versions.validation` keeps its column; its values become pending | valid | invalid (the
ledger's verdict handler computes them), so old rows that said passed/warning/failed are
mapped once here. `completeness` is null until the validator judged the version.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE versions ADD COLUMN completeness double precision
    CHECK (completeness IS NULL OR completeness BETWEEN 0 AND 1);
UPDATE versions SET validation = CASE validation
    WHEN 'failed' THEN 'invalid' WHEN 'passed' THEN 'valid' WHEN 'warning' THEN 'valid'
    ELSE validation END;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("ALTER TABLE versions DROP COLUMN IF EXISTS completeness")

