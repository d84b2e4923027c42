"""``python -m xaicore`` runs the ``xaicore`` command."""
import sys

from .cli import main

sys.exit(main())
