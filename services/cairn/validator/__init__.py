"""The validator: judges every new version with built-in checks and project hooks.

It consumes the ledger's changelog (never the raw inputs), so it judges exactly what the
ledger recorded, and answers with Verdict events on cairn.artifact.events, which the ledger
records like any other change: one verdict per check, upserted by (version, check).
"""
