"""Replaying an incident from a user's own Application and manifests (`argocd-chaos reproduce`).

The room sits above `_scenario`: it drives an `AppUnderTest` on a cluster acquired through the
session machinery, the same way the pytest plugin does, and writes its own report.
"""
