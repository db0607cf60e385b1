"""The read-only web UI under /ui: server-rendered pages over the same reads, search and
pictures the JSON routes use (so access control and redaction are theirs), one stylesheet,
one small script (every page works without it). The CLI and SDK remain the write path.
"""
