"""policy: see the module docstrings."""
