"""The kind provider: a kind cluster with Argo CD installed, real hook containers, the Docker network.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
