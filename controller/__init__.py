"""camfleet controller: stores fleet state, signs commands, runs campaigns and serves the dashboard."""

__version__ = "0.1.0"
