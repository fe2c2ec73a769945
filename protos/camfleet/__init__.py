"""Namespace of the generated camfleet protobuf packages."""
