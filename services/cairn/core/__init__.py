"""Pieces every Cairn service shares: settings, identity, events, codec, topics, blobs."""
