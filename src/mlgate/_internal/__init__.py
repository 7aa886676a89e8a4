"""The only code that subclasses or reaches into a dependency's non-public API, one module each."""
