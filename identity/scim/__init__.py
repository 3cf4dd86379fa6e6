"""scim: see the module docstrings."""
