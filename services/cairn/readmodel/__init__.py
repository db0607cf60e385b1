"""The read model: every SELECT against the ledger's tables lives here (the ledger owns the
tables and writes them; the api, the archiver, the notifier, the validator, the ledger's own
checks and the index rebuild read them through these functions; tests/unit/test_sql_owner.py
fails on SQL against them anywhere but here and the ledger). It imports `cairn.core` only,
never a service."""
