"""The XML parsers the agent uses for camera replies: no entities, no DTDs, no network, bounded trees."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # no lxml-stubs in the venv


def _strict(*, remove_pis: bool) -> etree.XMLParser:
    # Cameras are untrusted: no entity expansion (billion laughs, XXE), no DTD or network fetches, no huge trees,
    # and no recover mode (a body cut mid-document must fail, not parse "fine" with data missing).
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False,
                           remove_comments=True, remove_pis=remove_pis)  # fmt: skip


SAFE_PARSER = _strict(remove_pis=True)
# SOAP replies: the same guards, but processing instructions are kept, because zeep (which reads the same tree on
# the write path) keeps them and the zeep-free read path must see what zeep sees (agent.onvif_decode).
SOAP_PARSER = _strict(remove_pis=False)
