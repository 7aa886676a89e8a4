"""Policy tests (``mlgate test``): YAML cases (canonical input -> expected decision) and Rego ``test_`` rules.

A suite is a directory (``policy-tests/`` by default)::

    policy-tests/
      bases/compliant-high-production.yaml    full canonical inputs (schemas/input.schema.json)
      supply-chain.yaml                       cases that change one fact of a base each

A case file::

    base: compliant-high-production          # default base for the cases below (optional)
    cases:
      - name: unsigned model is denied in production
        base: compliant-high-production      # a file in bases/ (name without .yaml) or a path
        now: "2026-12-24T12:00:00Z"          # optional: sets context.now_ns
        set: {signature.present: false}      # dotted path or JSON pointer -> value
        unset: [card.governance.sbom_ref]    # paths to remove
        expect:
          allowed: false
          violations: [SC-SIGNED]            # must be denied (others may be too)
          warnings: []                       # must be warnings
          audits: []                         # must be recorded for audit only
          exemptions: []                     # controls (or exemption ids) that were exempted
          not_violations: [SC-SBOM]          # must not be denied
          absent: [GATE-FREEZE]              # must not appear at all
          risk_tier: high
          messages: {SC-SIGNED: "not signed"}  # a finding of that control contains the text
          exact: false                       # true: violations/warnings/audits are the full sets

Every case runs through the real :class:`mlgate.engine.Engine` with input validation on, so a
case sees exactly what the webhook and ``mlgate check`` would decide. Rego ``test_`` rules
in ``*_test.rego`` modules are compiled by OPA to WebAssembly with each rule as an entrypoint
and run on the embedded engine (so compiling them needs OPA, ``make opa``).

Modules, one job each: ``cases`` loads a suite (YAML case files and their bases),
``expect`` checks a decision against a case's expectation, ``runner`` runs cases through the
engine and Rego ``test_`` rules on the Wasm engine, ``results`` holds what a run produced.
Rendering is ``mlgate.cli.output``'s job. May import: the engine's types, ``mlgate.rego``
(Wasm), ``mlgate.policyset`` and ``mlgate.errors``.
"""
