"""SOAP 1.1 replies rewritten as SOAP 1.2 for the zeep binding (older firmware answers 1.1 to 1.2 requests)."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # no lxml-stubs in the venv

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TER = "http://www.onvif.org/ver10/error"
# SOAP 1.1 fault codes and their SOAP 1.2 counterparts (SOAP 1.2 part 1, appendix on 1.1 compatibility).
_CODES = {"client": "Sender", "server": "Receiver", "versionmismatch": "VersionMismatch",
          "mustunderstand": "MustUnderstand"}  # fmt: skip


def is_soap11(root: etree._Element) -> bool:
    return isinstance(root.tag, str) and etree.QName(root).namespace == SOAP11


def to_soap12(root: etree._Element) -> bytes:
    """The same message as a SOAP 1.2 envelope: Envelope/Header/Body moved to the 1.2 namespace, and a
    faultcode/faultstring/detail Fault turned into Code/Subcode/Reason/Detail. ONVIF codes that gSOAP puts
    into <detail> (ter:ActionNotSupported) become Subcodes, where classification looks for them."""
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"env": SOAP12, "ter": TER})
    for part in root:
        if not isinstance(part.tag, str):
            continue
        name = etree.QName(part)
        if name.namespace != SOAP11:
            env.append(_copy(part))
            continue
        new = etree.SubElement(env, f"{{{SOAP12}}}{name.localname}")
        for child in part:
            if not isinstance(child.tag, str):
                continue
            cq = etree.QName(child)
            if name.localname == "Body" and cq.namespace == SOAP11 and cq.localname == "Fault":
                new.append(_fault12(child))
            else:
                new.append(_copy(child))
    out: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return out


def _copy(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


def _local_text(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if isinstance(c.tag, str) and etree.QName(c).localname == name:
            return c
    return None


def _fault12(fault: etree._Element) -> etree._Element:
    code_el = _local_text(fault, "faultcode")
    raw_code = (code_el.text or "").strip() if code_el is not None else ""
    code = _CODES.get(raw_code.rpartition(":")[2].lower(), "Receiver")
    reason_el = _local_text(fault, "faultstring")
    detail = _local_text(fault, "detail")
    out = etree.Element(f"{{{SOAP12}}}Fault", nsmap={"env": SOAP12, "ter": TER})
    code12 = etree.SubElement(out, f"{{{SOAP12}}}Code")
    etree.SubElement(code12, f"{{{SOAP12}}}Value").text = f"env:{code}"
    parent = code12
    subcodes = [
        etree.QName(c).localname for c in (detail if detail is not None else []) if isinstance(c.tag, str)
    ]
    for sub in subcodes[:4]:
        if not sub.isidentifier():
            continue
        nxt = etree.SubElement(parent, f"{{{SOAP12}}}Subcode")
        etree.SubElement(nxt, f"{{{SOAP12}}}Value").text = f"ter:{sub}"
        parent = nxt
    reason = etree.SubElement(out, f"{{{SOAP12}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP12}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = (reason_el.text or "").strip() if reason_el is not None else raw_code
    if detail is not None:
        d12 = etree.SubElement(out, f"{{{SOAP12}}}Detail")
        for c in detail:
            if isinstance(c.tag, str):
                d12.append(_copy(c))
    return out
