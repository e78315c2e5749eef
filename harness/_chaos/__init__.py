"""The chaos room: outcome switches, drift, the mutating webhook.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
