"""One output package for every command, as conftest's ``output/`` serves all of its commands.

``check`` renders ``mlgate check`` and ``mlgate scan`` results (table, JSON, JUnit, SARIF,
GitHub annotations); ``test`` renders ``mlgate test`` results (table, JSON, JUnit); ``gate``
renders ``mlgate gate`` evidence and its promotion decision; ``verify`` renders ``mlgate
verify``. What they share lives here once: ``findings`` (a decision's findings as text lines,
used by check and gate) and ``junit`` (the JUnit XML document, used by check and test).

Command modules import only the renderer they use (this ``__init__`` imports nothing), so
``mlgate check`` does not pay for the others at start-up. May import: ``mlgate.decision``,
``mlgate.policytest.results`` and the standard library.
"""
