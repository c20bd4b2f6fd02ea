"""``python -m lstmcalc``: the same program as the ``lstmcalc`` command."""

from .cli import main

raise SystemExit(main())
