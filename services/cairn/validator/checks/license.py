"""The license is an SPDX identifier or expression (`MIT`, `Apache-2.0 OR MIT`, ...).

license-expression ships the SPDX license list (no network), parses whole expressions with
WITH exceptions, and normalises case; a vendored id list could not check expressions.
`LicenseRef-<name>` is SPDX's own way to name any other license, so it is accepted. An
absent license passes here: the `required` check reports it, once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from license_expression import get_spdx_licensing

from cairn.validator.checks import FAILED, WARNING, Outcome, judged

CHECK = "license"
_LICENSING = get_spdx_licensing()
_LICENSE_REF = re.compile(r"^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$")
HINT = "see spdx.org/licenses; name any other license LicenseRef-<name>"


@lru_cache(maxsize=1024)
def check(license: str | None) -> Outcome:
    """Remembered per license text (an Outcome is immutable): parsing an SPDX expression was
    a sixth of a judgement's CPU, and a registry holds few distinct licenses."""
    if not license or not license.strip():
        return judged(CHECK, ())
    try:
        info = _LICENSING.validate(license, strict=True)
    except Exception as exc:  # the parser raises on some malformed input instead of reporting
        return Outcome(CHECK, FAILED, (f"license: {license!r} is not an SPDX expression "
                                       f"({type(exc).__name__}; {HINT})",))
    syntax = [e for e in info.errors if not e.startswith("Unknown license key")]
    if syntax:
        return Outcome(CHECK, FAILED, (f"license: {license!r} is not a valid SPDX "
                                       f"expression: {syntax[0]}",))
    unknown = [s for s in info.invalid_symbols if not _LICENSE_REF.match(s)]
    if unknown:
        return Outcome(CHECK, FAILED, tuple(f"license: {s!r} is not an SPDX license "
                                            f"identifier ({HINT})" for s in unknown))
    normal = info.normalized_expression
    if normal and normal != license.strip():
        return Outcome(CHECK, WARNING, (f"license: {license!r} is written {normal!r} in SPDX",))
    return judged(CHECK, ())
