"""The compliance console: a read-only, server-rendered web view of the decision log.

It runs as its own process on its own port (``mlgate console``), never on the admission
webhook's: a console bug or load can then never delay or change an admission decision, and
the webhook's attack surface stays one endpoint. ``auth`` checks a bearer token (or relies on
mTLS), ``data`` reads the log, ``pages`` renders HTML with the report's fragments, ``app``
wires the routes.

May import: ``mlgate.audit``, ``mlgate.engine``, ``mlgate.impact``, ``mlgate.policyset``,
``mlgate.report`` and ``mlgate.cli.cmd_impact`` (its time parser); never ``mlgate.server``.
"""
