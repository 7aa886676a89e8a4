"""Where signature and attestation bundles come from (DESIGN.md 3.4).

* ``mlgate.io/signature`` / ``mlgate.io/attestation``: the bundle inline, base64.
* ``mlgate.io/signature-ref`` / ``mlgate.io/attestation-ref``: a relative path in the
  configured store directory, or an HTTP(S) URL under an allow-listed prefix.

Every failure becomes a ``Fetched`` with an ``error`` (never an exception into the webhook):
oversized bundles, bad base64, path traversal, URLs outside the allow-list, timeouts, HTTP
errors. Network fetches have a timeout, one bounded retry and a per-host circuit breaker.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mlgate.breaker import CircuitBreaker
from mlgate.errors import BackendUnavailable
from mlgate.supplychain.cache import VerificationCache
from mlgate.supplychain.trust import DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_BUNDLE_BYTES

ANNOTATIONS = {
    "signature": ("mlgate.io/signature", "mlgate.io/signature-ref"),
    "attestation": ("mlgate.io/attestation", "mlgate.io/attestation-ref"),
}
_STORE_REF = re.compile(r"^[A-Za-z0-9_.@+-]+(/[A-Za-z0-9_.@+-]+)*$")
_RETRY_STATUS = frozenset({502, 503, 504})
BREAKER_THRESHOLD = 5  # consecutive failures before a host is skipped
BREAKER_COOLDOWN = 30.0  # seconds a tripped host is skipped


@dataclass(frozen=True)
class Fetched:
    present: bool
    source: str  # inline | store | http | none
    data: bytes | None = None
    error: str | None = None
    ref: str | None = None


class BundleSources:
    def __init__(
        self,
        store_dir: Path | None = None,
        http_allow: Sequence[str] = (),
        *,
        max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
        retries: int = 1,
        http_cache_ttl: float = 60.0,
        client: Any | None = None,
    ) -> None:
        self.store_dir = store_dir.resolve() if store_dir else None
        self.http_allow = tuple(_split_prefix(p) for p in http_allow)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.retries = retries
        self._client = client
        self._client_lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}  # per host
        # Bundles fetched over HTTP are kept briefly: the same deployment is admitted
        # several times (create, dry run, replicas) and the store should not pay each time.
        self._http_cache = VerificationCache(1024, http_cache_ttl, 0.0)

    def fetch(self, annotations: Mapping[str, str], kind: str) -> Fetched:
        inline_key, ref_key = ANNOTATIONS[kind]
        inline, ref = annotations.get(inline_key), annotations.get(ref_key)
        if inline is not None and ref is not None:
            return Fetched(True, "none", error=f"both {inline_key} and {ref_key} are set; use one")
        if inline is not None:
            return self._inline(inline, inline_key)
        if ref is None:
            return Fetched(
                False, "none", error=f"unsigned: no {inline_key} or {ref_key} annotation"
            )
        ref = ref.strip()
        if ref.startswith(("https://", "http://")):
            return self.fetch_url(ref)
        return self.fetch_store(ref)

    def _inline(self, value: str, name: str) -> Fetched:
        text = "".join(value.split())  # long annotations are often folded
        if not text:
            return Fetched(True, "inline", error=f"{name} is empty")
        if len(text) > (self.max_bytes + 2) // 3 * 4:
            return Fetched(True, "inline", error=f"{name} is larger than {self.max_bytes} bytes")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return Fetched(True, "inline", error=f"{name} is not valid base64")
        return Fetched(True, "inline", data=data)

    def fetch_store(self, ref: str) -> Fetched:
        if self.store_dir is None:
            return Fetched(True, "store", error="no signature store is configured", ref=ref)
        parts = ref.split("/")
        if not _STORE_REF.match(ref) or any(p in (".", "..") for p in parts):
            return Fetched(
                True,
                "store",
                error=f"invalid store reference {ref[:200]!r}: a relative path "
                "inside the store is required (no '..', no absolute path, no scheme)",
                ref=ref,
            )
        path = (self.store_dir / ref).resolve()
        if not path.is_relative_to(self.store_dir):  # a symlink pointing out of the store
            return Fetched(
                True, "store", error=f"store reference {ref!r} leaves the store", ref=ref
            )
        try:
            size = path.stat().st_size
            if not path.is_file():
                return Fetched(
                    True, "store", error=f"store reference {ref!r} is not a file", ref=ref
                )
            if size > self.max_bytes:
                return Fetched(
                    True,
                    "store",
                    error=f"bundle too large: {size} bytes (limit {self.max_bytes})",
                    ref=ref,
                )
            return Fetched(True, "store", data=path.read_bytes(), ref=ref)
        except FileNotFoundError:
            return Fetched(
                True, "store", error=f"no bundle {ref!r} in the signature store", ref=ref
            )
        except OSError as err:
            return Fetched(True, "store", error=f"cannot read {ref!r}: {err.strerror}", ref=ref)

    def fetch_url(self, url: str) -> Fetched:
        if not self._allowed(url):
            return Fetched(
                True,
                "http",
                error=f"URL {url[:200]!r} is not under an allowed prefix "
                "(trust.yaml sources.http_allow)",
                ref=url,
            )
        cached = self._http_cache.get(url)
        if cached is not None:
            return Fetched(True, "http", data=cached["data"], ref=url)
        host = urlsplit(url).netloc.lower()
        breaker = self._breaker_for(host)
        try:
            breaker.before_call()
        except BackendUnavailable:
            wait = breaker.snapshot().retry_in_s
            return Fetched(
                True,
                "http",
                error=f"{host} failed repeatedly; not retried for {wait:.0f} s",
                ref=url,
            )
        data, error, healthy = self._get(url)
        if healthy:
            breaker.record_success()
        else:
            breaker.record_failure(error or "unhealthy")
        if error is not None:
            return Fetched(True, "http", error=error, ref=url)
        self._http_cache.put(url, {"data": data, "error": None})
        return Fetched(True, "http", data=data, ref=url)

    def _breaker_for(self, host: str) -> CircuitBreaker:
        # A dead store must not add its timeout to every request: each host trips alone.
        with self._client_lock:
            if host not in self._breakers:
                self._breakers[host] = CircuitBreaker(
                    f"signature store {host}",
                    failure_threshold=BREAKER_THRESHOLD,
                    reset_timeout=BREAKER_COOLDOWN,
                )
            return self._breakers[host]

    def _allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            return False
        if parts.username or parts.password or parts.fragment or "\\" in url:
            return False
        segments = unquote(parts.path).split("/")
        if ".." in segments or "." in segments:
            return False
        key = (parts.scheme.lower(), parts.netloc.lower())
        return any(
            key == (scheme, netloc) and (parts.path + "/").startswith(path)
            for scheme, netloc, path in self.http_allow
        )

    def _http(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout), follow_redirects=False
                )
            return self._client

    def _get(self, url: str) -> tuple[bytes | None, str | None, bool]:
        """(body, error, whether the host behaved): 4xx and oversize are not host failures."""
        import httpx

        deadline = time.monotonic() + self.timeout
        error = "not fetched"
        for attempt in range(self.retries + 1):
            try:
                with self._http().stream("GET", url) as response:
                    if response.status_code != 200:
                        error = f"GET {url[:200]} returned HTTP {response.status_code}"
                        if response.status_code in _RETRY_STATUS and attempt < self.retries:
                            continue
                        return None, error, response.status_code < 500
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > self.max_bytes:
                        too_large = f"bundle too large: {declared} bytes (limit {self.max_bytes})"
                        return None, too_large, True
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            return None, f"bundle too large: over {self.max_bytes} bytes", True
                        if time.monotonic() > deadline:
                            return (
                                None,
                                f"GET {url[:200]} timed out after {self.timeout:g} s",
                                False,
                            )
                    return bytes(body), None, True
            except httpx.TimeoutException:
                # The time budget is spent: retrying would double the admission latency.
                return None, f"GET {url[:200]} timed out after {self.timeout:g} s", False
            except httpx.HTTPError as err:
                error = f"GET {url[:200]} failed: {type(err).__name__}"
            deadline = time.monotonic() + self.timeout
        return None, error, False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _split_prefix(prefix: str) -> tuple[str, str, str]:
    parts = urlsplit(prefix)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return parts.scheme.lower(), parts.netloc.lower(), path
