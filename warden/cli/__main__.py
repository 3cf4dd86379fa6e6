"""``python -m warden.cli``: the ``warden`` command."""

from warden.cli.main import main

raise SystemExit(main())
