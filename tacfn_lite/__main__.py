"""``python -m tacfn_lite``: the same command line as ``tacfn-lite``."""

from .cli import main

raise SystemExit(main())
