"""console: see the module docstrings."""
