"""Convert every exception zeep/lxml/aiohttp raise for an ONVIF call into the agent's error classes."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import aiohttp
import zeep.exceptions
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.errors import AuthFailed, CameraError, LockedOut, ProtocolError, Timeout, Unreachable, Unsupported

# ONVIF Core generic faults (VENDORS.md §1): env:Sender/ter:NotAuthorized for a bad login,
# env:Receiver/ter:ActionNotSupported for an optional operation that is not implemented.
_AUTH_CODES = frozenset({"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken"})
_UNSUPPORTED_CODES = frozenset(
    {"ActionNotSupported", "NoSuchService", "ServiceNotSupported", "UnknownAction", "NotImplemented"}
)
# Defensive, not from the spec (VENDORS.md §1 "Implementation note" [U]): on an *optional* call these
# mean "this camera does not do that".
_OPTIONAL_UNSUPPORTED_CODES = frozenset({"InvalidArgs", "OperationProhibited", "ActionNotSupported"})
# Independent implementations disagree on how they signal errors, so the reason text counts too
# (DESIGN §4): a gSOAP soap:Client fault "Method not implemented", Hikvision "Not Supported".
_AUTH_TEXT = re.compile(r"not\s*authori[sz]ed|unauthori[sz]ed|authenticat\w* fail|sender not auth", re.I)
_LOCK_TEXT = re.compile(r"\blocked\b|lock(ed)?\s*out", re.I)
_UNSUPPORTED_TEXT = re.compile(
    r"not\s+implemented|not\s+supported|unsupported|no\s+such\s+(method|operation|service)|unknown\s+action",
    re.I,
)


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """The parts of a SOAP fault that matter for classification (zeep gives subcodes as lxml QNames)."""

    code: str  # local part: Sender/Receiver (1.2) or Client/Server (1.1)
    subcodes: tuple[str, ...]  # local parts, outermost first, plus ONVIF codes found in a 1.1 <detail>
    reason: str

    def describe(self) -> str:
        chain = "/".join((self.code or "?", *self.subcodes))
        return f"SOAP fault {chain}: {self.reason.strip()[:200]}"


def _local(value: object) -> str:
    if isinstance(value, etree.QName):
        return str(value.localname)
    text = str(value or "").strip()
    if text.startswith("{"):
        return text.rpartition("}")[2]
    return text.rpartition(":")[2]


def fault_info(fault: zeep.exceptions.Fault) -> FaultInfo:
    return fault_parts(fault.code, fault.subcodes, fault.detail, fault.message)


def fault_parts(code: object, subcodes: list[object] | None, detail: object, message: object) -> FaultInfo:
    """FaultInfo from the pieces zeep's process_error (or agent.onvif_read, which reads them the same way)
    extracts: the code text, subcode QNames, the detail element and the reason text."""
    names = [_local(s) for s in (subcodes or []) if s is not None]
    if isinstance(detail, etree._Element):
        # SOAP 1.1 has no subcodes; gSOAP puts the ONVIF code into <detail> (camsim soap.fault_body).
        for el in detail.iter():
            if isinstance(el.tag, str) and el is not detail:
                names.append(_local(etree.QName(el)))
    return FaultInfo(_local(code), tuple(s for s in names if s), str(message or ""))


def classify_fault(
    fault: zeep.exceptions.Fault, *, host: str, operation: str, optional: bool, raw: bytes | None
) -> CameraError:
    return classify(fault_info(fault), host=host, operation=operation, optional=optional, raw=raw)


def classify(info: FaultInfo, *, host: str, operation: str, optional: bool, raw: bytes | None) -> CameraError:
    """The agent's error class for a SOAP fault (same rules whichever path read the reply)."""
    names = set(info.subcodes)
    msg = info.describe()
    if names & _AUTH_CODES or _AUTH_TEXT.search(info.reason):
        if _LOCK_TEXT.search(info.reason):
            return LockedOut(msg, host=host, operation=operation)
        return AuthFailed(msg, host=host, operation=operation)
    if names & _UNSUPPORTED_CODES or _UNSUPPORTED_TEXT.search(info.reason):
        return Unsupported(msg, host=host, operation=operation)
    if optional and (names & _OPTIONAL_UNSUPPORTED_CODES or not names):
        return Unsupported(msg, host=host, operation=operation)
    return ProtocolError(msg, host=host, operation=operation, raw=raw)


def convert(
    exc: BaseException, *, host: str, operation: str, optional: bool = False, raw: bytes | None = None
) -> CameraError:
    """Map one exception raised while calling `operation` to a CameraError (the caller raises it `from exc`).

    The shapes come from real cameras (DESIGN §4): zeep Fault with QName subcodes, TransportError for an
    empty body, XMLSyntaxError for non-XML, and AttributeError/IndexError/TypeError from zeep when the
    body is an empty <Body/> or uses an undeclared prefix.
    """
    if isinstance(exc, CameraError):
        return exc
    if isinstance(exc, zeep.exceptions.Fault):
        return classify_fault(exc, host=host, operation=operation, optional=optional, raw=raw)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Timeout("no reply in time", host=host, operation=operation)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return Unreachable(f"{type(exc).__name__}: {exc}", host=host, operation=operation)
    if isinstance(exc, zeep.exceptions.TransportError):
        body = raw if raw is not None else (exc.content if isinstance(exc.content, bytes) else None)
        return ProtocolError(
            f"unusable reply (HTTP {exc.status_code}): {_first_line(exc.message)}",
            host=host,
            operation=operation,
            raw=body,
        )
    detail = f"{type(exc).__name__}: {_first_line(str(exc))}"
    return ProtocolError(f"reply could not be parsed ({detail})", host=host, operation=operation, raw=raw)


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""
