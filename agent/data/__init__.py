"""Reviewable data files shipped with the agent (attribution rules, firmware-to-CVE table)."""

from __future__ import annotations

from importlib import resources


def read_text(name: str) -> str:
    """The text of a data file shipped in this package (works from a wheel or an editable install)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
