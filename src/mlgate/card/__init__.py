"""Model-card evidence the engine computes before policy evaluation.

Owns the card's JSON Schema validation (``validation.CardValidator``, cached by content) and
the EU AI Act Annex III purpose matching (``classification``), both plain text and schema
processing whose results the policies judge.

May import: ``mlgate.policyset`` (schemas, params) and ``mlgate.errors``; nothing else of mlgate.
"""
