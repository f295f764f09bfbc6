"""``python -m pose3d_nb.cli ARGS`` is ``pose3d ARGS``."""

import sys

from pose3d_nb.cli import main

sys.exit(main())
