"""Engine-neutral search: documents, mappings, queries, and the two engine backends.

Nothing here knows FastAPI or Kafka, so the api, the indexer and `cairn reindex` share it.
"""
