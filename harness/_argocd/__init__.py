"""The Argo CD room.

The Application driver, typed observers, Argo CD's own objects, the git repos its repo- server reads, and
the canary that proves the controller reconciles.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
