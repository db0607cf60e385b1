"""Fixtures of the network-fault suite (`scripts/test -m faults`): Toxiproxy, and a database
of the test's own (the Kafka kill test's) so its ledger's counts are its own."""

from tests.e2e.test_kafka_restart import own_database  # noqa: F401 - the fixture
from tests.faults.toxiproxy import toxiproxy  # noqa: F401 - the fixture
