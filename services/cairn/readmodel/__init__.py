"""The read model: every SELECT against the ledger's tables lives here (the ledger owns the
tables and writes them; the api, the archiver, the ledger's own checks and the index rebuild
read them through these functions). It imports `cairn.core` only, never a service."""
