"""Helpers shared by the harness's own tests in different folders (on sys.path via pyproject's pythonpath)."""
