"""camfleet agent: talks ONVIF and vendor APIs to the cameras of one site and executes signed commands."""

__version__ = "0.1.0"
