"""Cairn: a reproducible experiment artifact registry."""

__version__ = "0.1.0"
