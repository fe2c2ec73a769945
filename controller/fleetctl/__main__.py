"""`python -m controller.fleetctl`: the same as the `fleetctl` console script."""

import sys

from controller.fleetctl.cli import main

sys.exit(main())
