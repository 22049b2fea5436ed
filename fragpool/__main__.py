"""`python -m fragpool`: the fragpool command line."""

import sys

from .cli import main

sys.exit(main())
