"""OPA's YAML conformance cases run on mlgate's Rego engines (``make conformance``).

A developer tool, not runtime code: it reads the OPA module source from the Go module cache and
the pinned OPA version from the Makefile, so it lives outside ``src/`` and runs from the
repository root (``python -m tools.conformance.runner``). It may import ``mlgate``; nothing in
``mlgate`` imports it.
"""
