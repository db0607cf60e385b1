"""A small publish in one request: its files ride in the publish itself (multipart/form-data,
a "manifest" part and one part per file), instead of a request asking which blobs are
missing, one PUT per missing blob, then the publish.

Sending a few KB the api may hold already costs less than the two round trips that would
find out. The manifest part lists every file with the size and sha256 hashed here, so the
api refuses bytes that changed since (digest_mismatch, told as file_changed); a file the api
stores is the caller's to name, as after an upload (cairn.api.form_publish).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.sdk.errors import CairnError
from cairn.sdk.files import LocalFile
from cairn.sdk.http import Http, Params

INLINE_BYTES = 256 * 1024  # files of a publish sent inside it, in all, at most
INLINE_FILES = 32
_UNSAFE = set('"\\;')  # a path that needs quoting in a part's header goes the long way


def fits(files: Sequence[LocalFile]) -> bool:
    """Whether the files are few and small enough to send inside the publish."""
    return (0 < len(files) <= INLINE_FILES and sum(f.size for f in files) <= INLINE_BYTES
            and all(f.path.isascii() and f.path.isprintable() and not _UNSAFE & set(f.path)
                    for f in files))


Part = tuple[str, str | None, str | None, bytes]  # name, filename, content type, bytes


def multipart(parts: Sequence[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type (filenames need no quoting: fits and
    sha256s see to that)."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, filename, content_type, data in parts:
        disposition = f'name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.extend(f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
                   .encode())
        if content_type:
            out.extend(f"Content-Type: {content_type}\r\n".encode())
        out.extend(b"\r\n" + data + b"\r\n")
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def form(request: Mapping[str, Any], files: Sequence[LocalFile]) -> tuple[bytes, str]:
    """The publish's body: the manifest, then each file."""
    return multipart([("manifest", None, "application/json", json.dumps(request).encode()),
                      *[("file", f.path, f.media_type, f.source.read_bytes()) for f in files]])


def publish(http: Http, request: Mapping[str, Any], files: Sequence[LocalFile],
            params: Params | None) -> Any:
    """POST /v1/artifacts with the files inside; its JSON answer."""
    body, content_type = form(request, files)
    try:
        return http.json("POST", "/v1/artifacts", content=body, params=params,
                         headers={"Content-Type": content_type})
    except CairnError as exc:
        if exc.reason == "digest_mismatch":
            raise CairnError("file_changed", f"a file changed after it was hashed ({exc.message})"
                             "; publish again once nothing is writing to it", exc.status) from exc
        raise
