"""The interception CA lifecycle: create, name-constrain, load, rotate, export.

The CA directory is what the proxy passes to mitmproxy as `confdir`; see `layout` for the
files in it. This package never imports mitmproxy.
"""

from .authority import KEEP, Keep, init_ca, rotate_ca
from .errors import CAError
from .inventory import CAFiles, export_ca, load_ca

__all__ = ["KEEP", "CAError", "CAFiles", "Keep", "export_ca", "init_ca", "load_ca", "rotate_ca"]
