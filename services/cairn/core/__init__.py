"""Pieces every Cairn service shares: `domain` (pure rules and event shapes) and `adapters`
(Kafka, registry, settings, blobs, outgoing HTTP)."""
