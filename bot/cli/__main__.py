"""`python -m bot.cli`: the `qi-nudge` command without the installed script."""

import sys

from bot.cli.main import main

sys.exit(main())
