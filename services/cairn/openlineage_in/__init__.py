"""OpenLineage in over Kafka: the `openlineage` topic (OpenLineage's Kafka transport) read
into Cairn events, the same way the api's /api/v1/lineage takes them."""
