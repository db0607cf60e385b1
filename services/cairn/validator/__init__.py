"""The validator: judges every new version with built-in checks and project hooks.

It consumes the ledger's changelog (never the raw inputs), so it judges exactly what the
ledger recorded, and answers with one VerdictSet event per judged version on
cairn.artifact.events (every check's outcome and the completeness score), which the ledger
records as one entry, upserting each check's verdict by (version, check).
"""
