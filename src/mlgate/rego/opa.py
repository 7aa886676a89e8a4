"""OPA server backend: the reference Rego engine, reached through opa-python-client.

Two modes:
- managed (no ``url``): start a local ``opa run --server`` on 127.0.0.1 (token-protected, see
  ``opaprocess``), push the policy set into it, kill it on ``close()`` and at exit. If the
  process dies, the circuit breaker's recovery probe starts a new one.
- external (``url=``): a sidecar or a cluster service. By default the policy set is pushed
  into it (``push=True``). Every decision is then asked through a small wrapper rule that
  also returns the revision OPA holds, so an OPA that restarted empty or that another client
  loaded with other policies is noticed on the request itself: the policy set is pushed again
  and the question asked once more (never answered from the wrong policies). With ``push=False`` the server is expected to serve the policy set as a signed
  bundle (``mlgate bundle build``); every answer then carries OPA's provenance, and an answer
  computed from another bundle revision is an error (the Python decision layer would otherwise
  explain it with the wrong catalogue).

How the client is used, and why (opa-python-client 3.0 builds a ``requests.Session`` itself):
- ONE ``OpaClient``, hence one session and one keep-alive connection pool, for the backend's
  lifetime. Its adapter is replaced: the default has ``pool_maxsize=10`` (more concurrent
  callers would open and throw away connections) and urllib3 retries with a 0.3 s backoff and
  retries of 500 answers, which would both blow the latency budget and replay requests that
  OPA did answer. Retries are done here instead: only for connection errors (refused, reset,
  closed keep-alive), never for a timeout, and only for the decision query, which is
  side-effect free.
- ``client.timeout`` is read at every call and handed to requests, so it is set to a
  (connect, read) tuple; the read timeout bounds a stuck (e.g. SIGSTOPped) server.
- ``update_policy_from_string(..., rego_compat=False)``: the client would otherwise rewrite a
  rejected v0 policy and retry, so OPA would run a different policy than the embedded engine.
- requests' Session is shared by threads here; its connection pool is thread-safe, and nothing
  else in it (cookies, auth) changes after construction.

Over 400 lines because the OPA server backend is one job end to end (connection, loading and
checking the policy revision, evaluation with retries, errors as fail-closed causes); the
process itself lives in ``opaprocess``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import DeletePolicyError, RegoParseError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mlgate._internal.opa_client import session_of
from mlgate.breaker import CircuitBreaker
from mlgate.errors import BackendUnavailable, EvaluationError, PolicyError
from mlgate.policyset import PolicySet
from mlgate.rego.opaprocess import OpaProcess

log = logging.getLogger("mlgate.rego.opa")

POLICY_PREFIX = "mlgate/"  # policy ids in OPA: mlgate/<path relative to policies/>
# Where the pushed revision is recorded, outside data.mlgate so both engines see the same data.
MARKER_PATH = "mlgate_marker"
# In push mode the decision is asked through this wrapper: one request returns the answer
# *and* the revision OPA holds, so an OPA that restarted empty (undefined) or that someone
# else loaded with other policies (another revision) is noticed on the very request.
CHECKED_ID = POLICY_PREFIX + "__mlgate_checked__.rego"
CHECKED_SOURCE = """package mlgate_meta

default loaded := null

loaded := data.mlgate_marker.revision

checked := {{"revision": loaded, "result": [r | r := data.{entry}]}}
"""
LOAD_TIMEOUT = 30.0
_QUERY = {"strict-builtin-errors": "true"}
# A gateway in front of OPA answers these when OPA itself is down: the backend is unavailable.
_UNAVAILABLE_STATUS = frozenset({502, 503, 504})


class OpaBackend:
    name = "opa"

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        url: str | None = None,
        opa_binary: str | None = None,
        timeout: float = 2.0,
        retries: int = 1,
        breaker: CircuitBreaker | None = None,
        token: str | None = None,
        push: bool = True,
        max_connections: int = 32,
        startup_timeout: float = 15.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.policy_set = policy_set
        self.timeout = timeout
        self.retries = max(0, retries)
        self.breaker = breaker or CircuitBreaker("opa")
        self.push = push
        self._max_connections = max_connections
        self._entry = policy_set.entrypoint  # mlgate/main/result
        self._sync_lock = threading.Lock()
        self._restart_lock = threading.Lock()
        self._synced = False
        self.process: OpaProcess | None = None
        if url is None:
            if not push:
                raise ValueError("push=False needs url= (an OPA that serves the bundle)")
            self.process = OpaProcess(opa_binary, startup_timeout=startup_timeout).start()
            self.url = self.process.url
            token = self.process.token
        else:
            self.url = url.rstrip("/")
        self._token = token
        self._client = self._make_client(self.url, token)
        try:
            self._sync(load_timeout=True)
        except BaseException:
            self.close()
            raise

    # -- connection ---------------------------------------------------------------------

    def _make_client(self, url: str, token: str | None) -> OpaClient:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA url must be http(s)://host:port, got {url!r}")
        if parts.path not in ("", "/"):
            raise ValueError(f"OPA url must not have a path (the client adds /v1/...): {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        client = OpaClient(
            host=parts.hostname, port=port, ssl=parts.scheme == "https", token=token, retries=0
        )
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=self._max_connections,
            max_retries=Retry(
                total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False
            ),
        )
        session_of(client).mount("http://", adapter)
        session_of(client).mount("https://", adapter)
        client.timeout = (self.timeout, self.timeout)
        return client

    # -- loading ------------------------------------------------------------------------

    def _sync(self, *, load_timeout: bool = False) -> None:
        """Makes sure OPA serves this policy set (pushing it if needed). Idempotent."""
        with self._sync_lock:
            if self._synced:
                return
            client = self._client
            if load_timeout:  # only at construction, before other threads can see the client
                client.timeout = (self.timeout, max(self.timeout, LOAD_TIMEOUT))
            try:
                if self.push:
                    if self._served_revision(client) != self.policy_set.revision:
                        self._push(client)
                else:
                    self._check_bundle(client)
            except requests.RequestException as err:
                raise BackendUnavailable(
                    f"cannot load policies into OPA at {self.url}: {_why(err)}",
                    code="opa.load_failed",
                ) from None
            finally:
                client.timeout = (self.timeout, self.timeout)
            self._synced = True

    def _served_revision(self, client: OpaClient) -> str | None:
        response = session_of(client).get(
            f"{client.root_url}/data/{MARKER_PATH}/revision", timeout=client.timeout
        )
        if response.status_code != 200:
            _raise_for_answer(response, "reading the loaded revision")
        revision = response.json().get("result")
        return revision if isinstance(revision, str) else None

    def _push(self, client: OpaClient) -> None:
        # Another revision may be loaded (an OPA kept across a policy update): clear it first,
        # so old and new modules are never compiled together. The marker goes last.
        self._delete_modules(client, keep=set())
        for key, value in self.policy_set.data.items():
            self._put_data(client, key, value)
        wanted = {POLICY_PREFIX + rel: src for rel, src in self.policy_set.modules.items()}
        wanted[CHECKED_ID] = CHECKED_SOURCE.format(entry=self._entry.replace("/", "."))
        # OPA compiles every PUT against what is loaded already, so a module that calls a
        # function of one not pushed yet is rejected; push in passes until nothing changes.
        pending = dict(wanted)
        errors: dict[str, str] = {}
        while pending:
            progress = False
            for policy_id, source in list(pending.items()):
                try:
                    client.update_policy_from_string(source, policy_id, rego_compat=False)
                except RegoParseError as err:
                    errors[policy_id] = str(err)
                    continue
                pending.pop(policy_id)
                errors.pop(policy_id, None)
                progress = True
            if not progress:
                detail = "; ".join(f"{pid}: {msg}" for pid, msg in errors.items())
                raise PolicyError(f"OPA rejected the policy set: {detail}", location=self.url)
        self._put_data(client, MARKER_PATH, {"revision": self.policy_set.revision})
        log.info(
            "pushed %d modules (revision %s) to OPA at %s",
            len(wanted),
            self.policy_set.revision,
            self.url,
        )

    @staticmethod
    def _delete_modules(client: OpaClient, keep: set[str]) -> None:
        """Removes the mlgate modules of an earlier push (all but ``keep``)."""
        stale = [
            p for p in client.get_policies_list() if p.startswith(POLICY_PREFIX) and p not in keep
        ]
        # Deleting a module another stale module still calls fails to compile: again, passes.
        while stale:
            failed: list[str] = []
            for policy_id in stale:
                try:
                    client.delete_policy(policy_id)
                except DeletePolicyError:
                    failed.append(policy_id)
            if len(failed) == len(stale):
                raise PolicyError(f"OPA refused to delete stale modules {failed}")
            stale = failed

    @staticmethod
    def _put_data(client: OpaClient, key: str, value: Any) -> None:
        response = session_of(client).put(
            f"{client.root_url}/data/{key}",
            data=json.dumps(value),
            headers={"Content-Type": "application/json"},
            timeout=client.timeout,
        )
        if response.status_code != 204:
            _raise_for_answer(response, f"writing data.{key}")

    def _check_bundle(self, client: OpaClient) -> None:
        revisions = self._bundle_revisions(_get_provenance(client))
        if self.policy_set.revision not in revisions:
            raise PolicyError(
                f"OPA serves bundle revision(s) {sorted(revisions) or 'none'}, "
                f"not this policy set's {self.policy_set.revision}",
                location=self.url,
                code="opa.bundle_revision",
            )

    @staticmethod
    def _bundle_revisions(body: dict[str, Any]) -> set[str]:
        bundles = (body.get("provenance") or {}).get("bundles") or {}
        return {str(b.get("revision")) for b in bundles.values() if isinstance(b, dict)}

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
        probe = self.breaker.before_call()  # raises BackendUnavailable when open
        try:
            if probe and self.process is not None and not self.process.alive:
                self._restart()
            if not self._synced:
                self._sync()
            body = self._query(input_document)
            if self.push:
                served, body = _unwrap(body)
                if served != self.policy_set.revision:
                    # Restarted empty, or loaded with other policies: push ours, ask again.
                    self._synced = False
                    self._sync()
                    served, body = _unwrap(self._query(input_document))
                    if served != self.policy_set.revision:
                        raise EvaluationError(
                            f"OPA at {self.url} serves policy revision {served}, not "
                            f"{self.policy_set.revision} (is another client loading it?)"
                        )
        except BackendUnavailable as err:
            self.breaker.record_failure(str(err))
            raise
        except EvaluationError:
            self.breaker.record_success()  # OPA answered: a policy error is not an outage
            raise
        except Exception as err:
            self.breaker.record_failure(f"{type(err).__name__}: {err}")
            raise EvaluationError(f"OPA backend failed: {type(err).__name__}: {err}") from None
        self.breaker.record_success()
        return self._result(body)

    def _query(self, input_document: dict[str, Any]) -> dict[str, Any]:
        client = self._client
        if self.push:
            package, rule, params = "mlgate_meta", "checked", _QUERY
        else:
            package, rule = self._entry.rsplit("/", 1)
            params = {**_QUERY, "provenance": "true"}
        attempts = 1 + self.retries
        for attempt in range(attempts):
            try:
                result: dict[str, Any] = client.query_rule(
                    input_document, package, rule, query_params=params
                )
                return result
            except requests.HTTPError as err:
                _raise_for_answer(err.response, f"evaluating {self._entry}")
            except requests.Timeout as err:
                if isinstance(err, requests.ConnectTimeout) and attempt + 1 < attempts:
                    continue
                self._synced = False
                raise BackendUnavailable(
                    f"OPA at {self.url} did not answer within {self.timeout:g}s ({_why(err)})"
                ) from None
            except requests.ConnectionError as err:
                # The server may have restarted and lost the pushed policies: check on success.
                self._synced = False
                if attempt + 1 < attempts:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise BackendUnavailable(self._unreachable(err)) from None
            except ValueError as err:  # a 200 whose body is not JSON: not OPA
                raise BackendUnavailable(
                    f"OPA at {self.url} sent a non-JSON answer: {err}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, err: Exception) -> str:
        reason = f"OPA at {self.url} is unreachable: {_why(err)}"
        if self.process is not None and not self.process.alive:
            reason += f" ({self.process.describe_exit()})"
        return reason

    def _result(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.push:
            served = self._bundle_revisions(body)
            if self.policy_set.revision not in served:
                raise EvaluationError(
                    f"OPA answered from bundle revision(s) {sorted(served) or 'none'}, "
                    f"not {self.policy_set.revision}"
                )
        if "result" not in body:
            raise EvaluationError(
                f"entrypoint {self._entry} is undefined for this input (OPA)",
                code="evaluation.undefined",
            )
        value = body["result"]
        if not isinstance(value, dict) or "findings" not in value:
            raise EvaluationError(
                f"entrypoint {self._entry} returned no findings (OPA): {value!r:.200}"
            )
        return value

    def _restart(self) -> None:
        """Managed mode: the recovery probe found the OPA process dead; start a new one."""
        assert self.process is not None
        with self._restart_lock:
            if self.process.alive:
                return
            log.warning("restarting OPA: %s", self.process.describe_exit())
            self.process.start()
            old, self._client = (
                self._client,
                self._make_client(self.process.url, self.process.token),
            )
            self.url = self.process.url
            self._synced = False
            old.close_connection()

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close_connection()
        if self.process is not None:
            self.process.stop()


def _unwrap(body: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(revision OPA holds, {"result": value} or {} if undefined) from a ``checked`` answer."""
    checked = body.get("result")
    if not isinstance(checked, dict):
        return None, {}  # the wrapper itself is missing: OPA lost the pushed policies
    values = checked.get("result") or []
    return checked.get("revision"), ({"result": values[0]} if values else {})


def _get_provenance(client: OpaClient) -> dict[str, Any]:
    """The provenance of a (cheap) query: which bundles, at which revisions, OPA serves."""
    response = session_of(client).post(
        f"{client.root_url}/data/{MARKER_PATH}?provenance=true",
        json={"input": {}},
        timeout=client.timeout,
    )
    if response.status_code != 200:
        _raise_for_answer(response, "reading provenance")
    provenance: dict[str, Any] = response.json()
    return provenance


def _raise_for_answer(response: requests.Response | None, doing: str) -> None:
    """OPA answered with an error status: unavailable (gateway) or an evaluation error."""
    if response is None:
        raise BackendUnavailable(f"OPA failed while {doing} (no response)")
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str(body.get("message") or response.reason or "")
    details = [
        str(e.get("message", ""))
        for e in body.get("errors", [])
        if isinstance(e, dict) and e.get("message")
    ]
    text = f"HTTP {response.status_code} while {doing}: {message}" + (
        f": {'; '.join(details)}" if details else ""
    )
    if response.status_code in _UNAVAILABLE_STATUS:
        raise BackendUnavailable(f"OPA unavailable: {text}")
    # OPA's own code (topdown.Error.Code, e.g. eval_builtin_error) when it names one.
    codes = [
        str(e["code"]) for e in body.get("errors", []) if isinstance(e, dict) and e.get("code")
    ]
    code = codes[0] if codes else str(body.get("code") or "error")
    raise EvaluationError(f"OPA error: {text}", code=f"opa.{code}")


def _why(err: Exception) -> str:
    """The innermost useful reason of a requests exception, on one line."""
    reason: BaseException = err
    while reason.__context__ is not None and reason.__context__ is not reason:
        reason = reason.__context__
    text = str(reason) or type(reason).__name__
    return " ".join(text.split())[:300]
