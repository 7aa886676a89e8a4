"""The admission webhook: FastAPI app, AdmissionReview handling, TLS, hot reload, metrics."""
