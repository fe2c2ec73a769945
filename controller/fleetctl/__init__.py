"""fleetctl: the network engineer's client of the controller REST API (the `fleetctl` console script)."""

from controller.fleetctl.cli import main

__all__ = ["main"]
