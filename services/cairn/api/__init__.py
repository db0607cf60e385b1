"""Cairn's HTTP api: publish, read and change artifacts; every write becomes a Kafka event."""
