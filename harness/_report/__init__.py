"""The report room: the claims ledger, its comparison, evidence and the claims plugin.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
