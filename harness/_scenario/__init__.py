"""The scenario room: the app under test, fixture apps, the timeline, the diagnostics bundle.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
