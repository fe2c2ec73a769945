"""Targets CSV parsing (camsim --export format) and configured address ranges for --range."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.credentials import Credentials
from agent.targets import (
    RangeAllowList,
    RangeError,
    RangeNotAllowed,
    Target,
    TargetsError,
    load_targets,
    parse_targets,
    resolve_ranges,
)
from camsim.export import export
from camsim.fleet import generate_fleet

SECRET = "Pa55-w0rd!zz"


def test_camsim_export_round_trip(tmp_path: Path) -> None:
    cams = generate_fleet(6, {"hikvision": 1, "dahua": 1, "axis": 1}, seed=7, base_address="127.0.6.1")
    targets_csv, _ = export(cams, tmp_path)
    targets = load_targets(targets_csv)
    assert [(t.host, t.port) for t in targets] == [(c.network.address, c.port) for c in cams]
    for t, cam in zip(targets, cams, strict=True):
        admin = next(u for u in cam.users if u.level == "Administrator")
        assert t.credentials == Credentials(admin.username, admin.password)


def test_bom_whitespace_comments_ipv6_and_column_order() -> None:
    text = (
        "\ufeff Port , HOST,username , password\r\n"
        "\r\n"
        "# site B, second floor\r\n"
        f" 80 , 127.0.6.1 , admin , {SECRET} \r\n"
        f'8080,[::1],root,"{SECRET},with comma"\r\n'
        f"443,CAM-7.Site.Example,admin,{SECRET}\r\n"
    )
    targets = parse_targets(text)
    assert targets == [
        Target("127.0.6.1", 80, Credentials("admin", SECRET)),
        Target("::1", 8080, Credentials("root", f"{SECRET},with comma")),
        Target("cam-7.site.example", 443, Credentials("admin", SECRET)),
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (f"127.0.6.1,http,admin,{SECRET}", "line 2: bad port: port is not a number"),
        (f"127.0.6.1,70000,admin,{SECRET}", "line 2: bad port: port is out of range"),
        (f"127.0.6.1,0,admin,{SECRET}", "line 2: bad port: port is out of range"),
        (f"127.0.6.1,80,{SECRET}", "line 2: missing password"),
        (f"127.0.6.1,80,,{SECRET}", "line 2: missing username"),
        (f",80,admin,{SECRET}", "line 2: missing host"),
        ("127.0.6.1,80,admin,", "line 2: missing password"),
        (f"{SECRET},80,admin,x", "line 2: bad host"),  # a shifted row: the password sits in the host column
        (f"127.0.6.1,80,admin,{SECRET},extra", "line 2: more fields than the header"),
        (f'127.0.6.1,80,admin,"{SECRET}', "malformed CSV"),
    ],
)
def test_bad_rows_name_the_line_and_never_echo_the_password(row: str, expected: str) -> None:
    with pytest.raises(TargetsError) as info:
        parse_targets(f"host,port,username,password\n{row}\n", source="t.csv")
    message = str(info.value)
    assert expected in message
    assert message.startswith("t.csv: ")
    for text in (message, repr(info.value), *info.value.problems):
        assert SECRET not in text
    # No chained exception carries the row either.
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


def test_every_bad_row_is_reported_at_once() -> None:
    text = (
        "host,port,username,password\n"
        f"127.0.6.1,80,admin,{SECRET}\n"
        f"127.0.6.2,x,admin,{SECRET}\n"
        f"127.0.6.1,80,admin,{SECRET}\n"
        "127.0.6.3,80,admin\n"
    )
    with pytest.raises(TargetsError) as info:
        parse_targets(text)
    assert info.value.problems == (
        "line 3: bad port: port is not a number",
        "line 4: duplicate of line 2 (same host and port)",
        "line 5: missing password",
    )


@pytest.mark.parametrize("text", ["", "\n\n", f"127.0.6.1,80,admin,{SECRET}\n", "host,port,user,password\n"])
def test_header_is_required(text: str) -> None:
    with pytest.raises(TargetsError) as info:
        parse_targets(text)
    assert "header" in str(info.value)
    assert SECRET not in str(info.value)


def test_load_targets_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read file"):
        load_targets(tmp_path / "missing.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"host,port,username,password\n127.0.6.1,80,admin,caf\xe9\n")
    with pytest.raises(TargetsError, match="not UTF-8"):
        load_targets(bad)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfhost,port,username,password\n127.0.6.1,80,admin,x\n")
    assert load_targets(bom)[0].host == "127.0.6.1"


def test_credentials_in_targets_do_not_show_in_repr() -> None:
    (t,) = parse_targets(f"host,port,username,password\n127.0.6.1,80,admin,{SECRET}\n")
    assert SECRET not in repr(t) and SECRET not in str(t)
    assert t.credentials.password == SECRET


# ---- ranges ------------------------------------------------------------------------------------------

ALLOW = RangeAllowList.from_config(["127.0.6.0/24", "127.0.7.10-127.0.7.20", "::1"])


def test_cidr_and_dash_ranges_expand_in_order() -> None:
    assert resolve_ranges(["127.0.6.0/29"], ALLOW) == [f"127.0.6.{i}" for i in range(1, 7)]
    assert resolve_ranges(["127.0.6.1-127.0.6.3"], ALLOW) == ["127.0.6.1", "127.0.6.2", "127.0.6.3"]
    assert resolve_ranges(["127.0.6.8/31", "127.0.6.9"], ALLOW) == ["127.0.6.8", "127.0.6.9"]
    assert resolve_ranges([" 127.0.7.12 "], ALLOW) == ["127.0.7.12"]
    assert resolve_ranges(["::1"], ALLOW) == ["::1"]
    assert len(resolve_ranges(["127.0.6.0/28"], ALLOW)) == 14


@pytest.mark.parametrize(
    "spec", ["127.0.5.0/24", "127.0.6.0/23", "127.0.7.9-127.0.7.12", "127.0.7.21", "10.0.0.1", "::2"]
)
def test_ranges_outside_the_configuration_are_refused(spec: str) -> None:
    with pytest.raises(RangeNotAllowed):
        resolve_ranges([spec], ALLOW)
    assert not ALLOW.allows(spec)


def test_empty_allow_list_refuses_everything() -> None:
    with pytest.raises(RangeNotAllowed):
        resolve_ranges(["127.0.6.1"], RangeAllowList())


def test_cap_is_checked_before_expanding() -> None:
    huge = RangeAllowList.from_config(["0.0.0.0/0"])
    with pytest.raises(RangeError, match="16777216 addresses; the limit is 4096"):
        resolve_ranges(["10.0.0.0/8"], huge)
    with pytest.raises(RangeError, match="limit is 10"):
        resolve_ranges(["127.0.6.0/28"], ALLOW, max_addresses=10)


@pytest.mark.parametrize(
    "spec", ["", "127.0.6", "127.0.6.0/33", "127.0.6.5-127.0.6.1", "127.0.6.1-::1", "host.example", "a-b"]
)
def test_malformed_ranges(spec: str) -> None:
    with pytest.raises(RangeError):
        resolve_ranges([spec], ALLOW)


def test_range_errors_say_what_is_wrong() -> None:
    with pytest.raises(RangeError, match="ends before it starts"):
        resolve_ranges(["127.0.6.5-127.0.6.1"], ALLOW)
    with pytest.raises(RangeError, match="mixes IPv4 and IPv6"):
        resolve_ranges(["127.0.6.1-::1"], ALLOW)
    with pytest.raises(RangeError, match="no range given"):
        resolve_ranges([], ALLOW)


_FIELD = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=',"\r\n\x00'), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(_FIELD, min_size=0, max_size=6),
    slot=st.integers(min_value=0, max_value=5),
    tail=st.text(alphabet="abcXYZ019!#-", min_size=4, max_size=10),
)
def test_no_row_shape_ever_echoes_the_password(fields: list[str], slot: int, tail: str) -> None:
    """Wherever the password lands in a broken row, the error text never contains it."""
    password = f"Zq§{tail}"
    row = list(fields)
    row.insert(min(slot, len(row)), password)
    text = "host,port,username,password\n" + ",".join(row) + "\n"
    try:
        parse_targets(text)
    except TargetsError as exc:
        assert password not in str(exc) and password not in repr(exc)
