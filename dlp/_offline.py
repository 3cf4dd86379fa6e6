"""Keeps Presidio and its dependencies off the network; import this before Presidio.

tldextract (used by Presidio's e-mail recognizer) fetches the public suffix list on first
use unless ``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` is empty, in which case it uses the
snapshot bundled with the package (and caches its parse under ``~/.cache``, or warns and
goes on when that is not writable).
spaCy is never asked to download a model here: the engine uses Presidio's no-op NLP engine
unless a profile names a model on disk.
"""

from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
