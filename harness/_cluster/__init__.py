"""The cluster room.

The provider interface and registry, and each provider (embedded, kind, existing) with what it needs
(processes, ports, PKI, KWOK stages, Docker network, hook commands, the Argo CD install).

Internal: the public API is what ``harness/__init__.py`` exports.
"""
