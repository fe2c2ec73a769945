"""deploy/examples: up to date with their generator, and every key they show lands in its field when the real
loaders read them (so the examples document what the code reads, not what someone remembers)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config as load_agent
from controller.config import load_config as load_controller
from devstack import config_examples as ex

LOADERS: dict[str, Callable[[Path], Any]] = {"controller.toml": load_controller, "agent.toml": load_agent}


def test_the_examples_are_up_to_date() -> None:
    assert ex.main(["--check"]) == 0


def _other(k: ex.Key) -> object:
    """A value unlike the example (and unlike any default), so a key the loader ignores cannot pass."""
    v = k.example
    if k.key == "protocol":
        return 4 if v == 5 else 5
    if k.key == "scope":  # a choice of two
        return "link" if v == "ranges" else "ranges"
    if isinstance(v, list) and all(isinstance(x, int) for x in v):
        return [x + 7 for x in v]
    if k.key == "interfaces":  # addresses of this host, not ranges
        return [*v, "10.9.9.9"]
    if k.key == "source_address":  # one address
        return "10.9.9.9"
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float):
        return v + 7
    if isinstance(v, list):
        return [*v, "10.9.9.0/24"]
    return f"{v}x"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_the_examples_load_as_shown(name: str) -> None:
    path = ex.OUT / name
    cfg = LOADERS[name](path)
    for k in ex.FILES[name][1]:
        want = (path.parent / str(k.example)) if k.path else k.example
        assert operator.attrgetter(k.field)(cfg) == want, f"[{k.section}] {k.key}"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_key_is_read_into_its_field(name: str, tmp_path: Path) -> None:
    title, keys = ex.FILES[name]
    assert len({(k.section, k.key) for k in keys}) == len(keys)
    changed = [ex.Key(k.section, k.key, k.field, _other(k), k.doc, k.path) for k in keys]
    path = tmp_path / name
    path.write_text(ex.render(title, changed))
    cfg = LOADERS[name](path)
    for k in changed:
        got = operator.attrgetter(k.field)(cfg)
        want = (tmp_path / str(k.example)) if k.path else k.example
        assert got == want, f"[{k.section}] {k.key}: read as {got!r}, written {want!r}"
