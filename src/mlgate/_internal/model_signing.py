"""model-signing 1.x private API: the in-toto statement of a manifest, and back.

The root digest a model signature names is defined by ``model_signing``'s ``Payload`` (the
statement over a manifest's resource digests) and read back by ``dsse_payload_to_manifest``;
both live in the private ``model_signing._signing.signing``. Hashing (``model_signing.hashing``)
is public and used directly. Reusing the library's definition, rather than rewriting it, keeps
our digests the ones ``model_signing`` verifies.

``tests/test_internal_adapters.py`` fails loudly when model-signing moves either.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_signing import manifest


def statement_of(model_manifest: manifest.Manifest) -> dict[str, Any]:
    """The in-toto statement (as JSON data) a signature of this manifest signs."""
    from google.protobuf import json_format
    from model_signing._signing import signing

    statement = signing.Payload(model_manifest).statement.pb
    document: dict[str, Any] = json.loads(json_format.MessageToJson(statement))
    return document


def manifest_of(statement: dict[str, Any]) -> manifest.Manifest:
    """The manifest (resource digests, serialization) a verified statement describes."""
    from model_signing._signing import signing

    return signing.dsse_payload_to_manifest(statement)
