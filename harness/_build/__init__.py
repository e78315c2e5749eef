"""The build room: Go builds of the embedded cluster's binaries, version resolution, the binary cache.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
