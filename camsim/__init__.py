"""camsim: a fleet of simulated ONVIF cameras (Hikvision-, Dahua-, Axis-like and generic) on loopback."""

__version__ = "0.1.0"
