"""The indexer: the ledger's changelog → the search index (and `cairn reindex`)."""
