"""`python -m videogan.cli`: the `videogan` command."""
import sys

from . import main

sys.exit(main())
