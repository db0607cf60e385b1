"""A webhook receiver for trying Cairn's notifications on one machine (development only)."""
