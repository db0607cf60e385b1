"""The ledger: the single writer of PostgreSQL and the source of truth."""
