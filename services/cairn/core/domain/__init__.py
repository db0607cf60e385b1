"""Cairn's domain: pure rules and shapes every service shares (identity, access, lifecycle,
retention, the hash chain, event payloads, error codes). No I/O and no adapter imports, so
each rule is unit-tested alone and runs the same in the SDK, the api and the ledger.
"""
