"""The Python SDK: `Client` publishes, pulls, reads and changes artifacts through the api."""

from cairn.sdk.client import Client
from cairn.sdk.errors import CairnError
from cairn.sdk.publish import PublishResult

__all__ = ["CairnError", "Client", "PublishResult"]
