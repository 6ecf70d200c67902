"""``python -m certkit.cli``."""

from .app import main

main()
