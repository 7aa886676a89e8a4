"""The only place that touches a dependency's private API: one adapter per dependency.

``sigstore`` (signing-time source, bundled roots for the refresh tool), ``model_signing``
(the statement of a manifest and back), ``opa_client`` (the requests session),
``opa_wasm_memory`` (opa-py-wasm's initial memory), ``wasm_native_cache`` and
``uvicorn_protocol``. Each adapter says which library version needs it and has a test
(``tests/test_internal_adapters.py`` and the backends' tests) that fails once the library
moves, so the workaround is fixed or removed, not carried forever. Nothing else in ``mlgate``
imports a private name of a dependency. May import: the dependency it adapts, nothing of mlgate.
"""
