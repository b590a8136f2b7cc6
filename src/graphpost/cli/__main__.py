"""`python -m graphpost.cli`: the same as the `graphpost` command."""

import sys

from graphpost.cli import main

sys.exit(main())
