"""The admission webhook: FastAPI app, AdmissionReview handling, TLS, hot reload, metrics.

May import: ``mlgate.engine``, ``mlgate.decide``, ``mlgate.decision``, ``mlgate.audit``,
``mlgate.subjects``, ``mlgate.policyset`` and ``mlgate.errors``; never ``mlgate.cli``.
"""
