"""Cairn's shared adapters: the I/O edges every service uses (Kafka producing and consuming,
the schema registry and Avro codec, event signing, settings, the blob store, DNS-checked HTTP
targets, logging, metric plots). They may use the domain; the domain never uses them.
"""
