"""What several platform apps need: how values are displayed, CSV safety, time.

The bottom layer of the import-linter contract in pyproject.toml: it imports no
platform app, so any app may import it.
"""
