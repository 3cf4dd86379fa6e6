"""dlp: see the module docstrings."""
