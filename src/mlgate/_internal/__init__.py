"""The only place that touches a dependency's private API: one small adapter per workaround.

Each adapter says which library version needs it and has a test that fails once the library
no longer does (so the workaround is removed, not carried forever).
"""
