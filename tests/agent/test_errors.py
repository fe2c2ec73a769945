"""Error classes and the exception mapping at the ONVIF boundary (no network)."""

from __future__ import annotations

import aiohttp
import pytest
import zeep.exceptions
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.credentials import Credentials
from agent.errors import (
    RAW_LIMIT,
    AuthFailed,
    CameraError,
    LockedOut,
    ProtocolError,
    Timeout,
    Unreachable,
    Unsupported,
    is_transient,
)
from agent.onvif_faults import convert, fault_info

TER = "http://www.onvif.org/ver10/error"
ENV = "http://www.w3.org/2003/05/soap-envelope"


def test_hierarchy_and_classes() -> None:
    assert issubclass(Timeout, Unreachable) and Timeout.error_class == "timeout"
    assert issubclass(LockedOut, AuthFailed) and LockedOut.error_class == "locked_out"
    expected = {
        Unreachable: "unreachable",
        AuthFailed: "auth",
        Unsupported: "unsupported",
        ProtocolError: "protocol",
    }
    for cls, name in expected.items():
        assert issubclass(cls, CameraError)
        assert cls.error_class == name
    assert is_transient(Timeout("t")) and is_transient(Unreachable("u"))
    assert not any(
        is_transient(e) for e in (AuthFailed("a"), LockedOut("l"), Unsupported("u"), ProtocolError("p"))
    )


def test_raw_truncated_and_fixture_line() -> None:
    err = ProtocolError("bad xml", host="127.0.1.1", operation="GetDNS", raw=b"<a>" + b"x" * (RAW_LIMIT + 10))
    assert err.raw is not None and len(err.raw) == RAW_LIMIT
    line = err.fixture_line()
    assert "\n" not in line and line.startswith("('GetDNS', '127.0.1.1', b'<a>")
    assert "protocol" in str(err) and "127.0.1.1" in str(err)
    assert err.to_dict() == {
        "error_class": "protocol",
        "message": "bad xml",
        "host": "127.0.1.1",
        "operation": "GetDNS",
    }
    assert "bytes" in repr(err)


def test_credentials_never_show_password() -> None:
    c = Credentials("admin", "hunter2-secret")
    assert "hunter2" not in repr(c) and "hunter2" not in str(c) and "hunter2" not in f"{c}"
    assert c == Credentials("admin", "hunter2-secret") and c != Credentials("admin", "other")
    with pytest.raises(AttributeError):
        c.password = "x"  # type: ignore[misc]


def _fault(message: str, code: str | None, *subcodes: str, detail: object = None) -> zeep.exceptions.Fault:
    return zeep.exceptions.Fault(  # type: ignore[no-untyped-call]
        message, code=code, subcodes=[etree.QName(TER, s) for s in subcodes] or None, detail=detail
    )


@pytest.mark.parametrize(
    ("fault", "optional", "expected"),
    [
        (_fault("Sender not Authorized", "env:Sender", "NotAuthorized"), False, AuthFailed),
        (_fault("Not Authorized", "env:Receiver"), False, AuthFailed),  # Receiver, no subcode, reason text
        (_fault("User is locked", "env:Sender", "NotAuthorized"), False, LockedOut),
        (_fault("Optional Action Not Implemented", "env:Receiver", "ActionNotSupported"), False, Unsupported),
        (_fault("x", "env:Receiver", "ActionNotSupported", "NoSuchService"), False, Unsupported),
        (_fault("Method not implemented", "SOAP-ENV:Client"), False, Unsupported),  # gSOAP soap:Client
        (
            _fault("Argument Value Invalid", "env:Sender", "InvalidArgVal", "InvalidIPv4Address"),
            False,
            ProtocolError,
        ),
        (
            _fault("Argument Value Invalid", "env:Sender", "InvalidArgVal", "InvalidIPv4Address"),
            True,
            ProtocolError,
        ),
        (_fault("Operation prohibited", "env:Sender", "OperationProhibited"), True, Unsupported),
        (_fault("Something", "env:Receiver"), True, Unsupported),  # bare fault on an optional op
        (_fault("Something", "env:Receiver"), False, ProtocolError),
    ],
)
def test_fault_classification(
    fault: zeep.exceptions.Fault, optional: bool, expected: type[CameraError]
) -> None:
    err = convert(fault, host="h", operation="Op", optional=optional, raw=b"<raw/>")
    assert type(err) is expected
    assert err.host == "h" and err.operation == "Op"
    if expected is ProtocolError:
        assert err.raw == b"<raw/>"


def test_soap11_detail_subcode() -> None:
    """SOAP 1.1 has no subcodes; gSOAP puts ter:NotAuthorized into <detail>."""
    detail = etree.fromstring(f'<detail xmlns:ter="{TER}"><ter:NotAuthorized/></detail>')
    fault = zeep.exceptions.Fault("Authority failure", code="SOAP-ENV:Client", detail=detail)  # type: ignore[no-untyped-call]
    info = fault_info(fault)
    assert info.code == "Client" and "NotAuthorized" in info.subcodes
    assert isinstance(convert(fault, host="h", operation="GetUsers"), AuthFailed)


def test_fault_info_reads_qnames() -> None:
    fault = _fault("r", f"{{{ENV}}}Receiver", "ActionNotSupported", "EmptyScope")
    info = fault_info(fault)
    assert info.code == "Receiver" and info.subcodes == ("ActionNotSupported", "EmptyScope")
    assert info.describe().startswith("SOAP fault Receiver/ActionNotSupported/EmptyScope")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            zeep.exceptions.TransportError("Server returned HTTP status 200 (no content)", 200, b""),  # type: ignore[no-untyped-call]
            ProtocolError,
        ),
        (zeep.exceptions.XMLSyntaxError("not xml"), ProtocolError),  # type: ignore[no-untyped-call]
        (etree.XMLSyntaxError("undeclared prefix", 0, 1, 1), ProtocolError),
        (AttributeError("'NoneType' object has no attribute 'getchildren'"), ProtocolError),
        (IndexError("list index out of range"), ProtocolError),
        (TypeError("NoneType is not iterable"), ProtocolError),
        (ValueError("weird"), ProtocolError),
        (TimeoutError(), Timeout),
        (aiohttp.ServerDisconnectedError(), Unreachable),
        (aiohttp.ClientPayloadError("cut"), Unreachable),
        (ConnectionResetError(), Unreachable),
    ],
)
def test_convert_third_party(exc: Exception, expected: type[CameraError]) -> None:
    err = convert(exc, host="127.0.1.1", operation="GetDNS", raw=b"<broken")
    assert type(err) is expected
    assert err.operation == "GetDNS"
    if expected is ProtocolError:
        assert err.raw == b"<broken"


def test_convert_passes_camera_errors_through() -> None:
    original = LockedOut("locked", host="h")
    assert convert(original, host="x", operation="y") is original
