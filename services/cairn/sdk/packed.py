"""Many small blobs in a few requests (POST /v1/blobs, multipart: one part per blob, named
by its sha256), for Client.publish_many: an import of 10,000 small files would otherwise
send 10,000 PUTs. Blobs over PACKED_BLOB_BYTES, and every blob of a pack the api refused
(an older api without the route; a file that changed since it was hashed), go one PUT each
(cairn.sdk.transfer.upload), which also says which blob failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from cairn.sdk import transfer
from cairn.sdk.errors import CairnError
from cairn.sdk.files import LocalFile
from cairn.sdk.http import Http
from cairn.sdk.inline import multipart

PACKED_BLOB_BYTES = 64 * 1024  # a blob at most this big travels in a pack
PACK_BYTES = 512 * 1024  # a pack's blobs, in all (the api takes CAIRN_MAX_EVENT_BYTES)
PACK_BLOBS = 50  # several packs of a group go at once: the api stores a pack's blobs one by one


def packs(files: Sequence[LocalFile]) -> Iterator[list[LocalFile]]:
    pack: list[LocalFile] = []
    size = 0
    for f in files:
        if pack and (len(pack) >= PACK_BLOBS or size + f.size > PACK_BYTES):
            yield pack
            pack, size = [], 0
        pack.append(f)
        size += f.size
    if pack:
        yield pack


def send_pack(http: Http, pack: Sequence[LocalFile]) -> dict[str, str]:
    """POST /v1/blobs with the pack's bytes; the receipts by sha256."""
    body, content_type = multipart([("blob", f.sha256, None, f.source.read_bytes())
                                    for f in pack])
    reply = http.json("POST", "/v1/blobs", content=body,
                      headers={"Content-Type": content_type})
    return dict(reply["receipts"])


def upload(http: Http, files: Sequence[LocalFile], show: bool | None, workers: int,
           failed: dict[str, CairnError]) -> dict[str, str]:
    """Upload each distinct blob, small ones packed, `workers` requests at a time; the
    receipts by sha256, and a refused blob in `failed` (as transfer.upload does)."""
    todo = list({f.sha256: f for f in files}.values())
    small = [f for f in todo if f.size <= PACKED_BLOB_BYTES]
    receipts: dict[str, str] = {}
    again: list[LocalFile] = [f for f in todo if f.size > PACKED_BLOB_BYTES]

    def one(pack: list[LocalFile]) -> None:
        try:
            receipts.update(send_pack(http, pack))
        except (CairnError, OSError):
            again.extend(pack)  # each PUT on its own: which blob failed, and why

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="cairn-pack") as pool:
        list(pool.map(one, packs(small)))
    receipts.update(transfer.upload(http, again, show, workers, failed))
    return receipts
