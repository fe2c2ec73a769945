"""ONVIF reply bodies decoded like zeep decodes them, by a small interpreter over shapes compiled once from the WSDL.

zeep's per-reply deserialisation (value objects, signature processing, per-element schema lookups) was about a
quarter of the agent's CPU in bench/inventory_sweep.py. The values that come out of here are the ones zeep would
give for the same tree, field for field, including its lenient (strict=False) quirks that the agent's readers have
always seen: elements matched by local name in schema order (an element out of order or after an unknown one is
left over), a missing required element read as None, a value that does not convert read as None, leftovers kept
in `_raw_elements`. tests/fuzz/test_onvif_read_path.py proves the equivalence on recorded and generated replies.
Shapes are compiled from the zeep schema onvif-zeep-async ships (parsed once per process, shared with the write
path); a node the interpreter does not model (xsi:type, a processing instruction, simple content, choices, xs:any
content) is handed to zeep's own parser for that subtree, so an odd reply costs more but never decodes differently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_UNBOUNDED = 2**31 - 1


class Obj:
    """A decoded complex value: attribute access by field name like zeep's CompoundValue (an unknown name raises
    AttributeError, every schema field is present with its default), plus len/iteration/indexing over the fields."""

    __slots__ = ("_shape", "_values")

    def __init__(self, values: dict[str, Any], shape: Complex | None = None) -> None:
        self._values = values
        self._shape = shape

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __repr__(self) -> str:
        return f"Obj({self._values!r})"


class _Unexpected(Exception):
    """A required element did not match (zeep's UnexpectedElementError, swallowed by a non-strict sequence)."""


@dataclass(slots=True)
class Simple:
    convert: Callable[[str], Any]


@dataclass(slots=True, eq=False)
class Elem:
    local: str
    name: str
    multiple: bool
    optional: bool
    max: int
    zeep: Any
    shape: Simple | Complex | None = None  # compiled on first use (types may recurse)


@dataclass(slots=True, eq=False)
class AnyItem:
    name: str
    multiple: bool
    max: int
    zeep: Any


@dataclass(slots=True, eq=False)
class Complex:
    zeep: Any
    empty: bool = False
    delegate: bool = False  # parsed by zeep itself (simple content, choice/all/group, arrays)
    defaults: tuple[tuple[str, Any], ...] = ()
    list_defaults: tuple[str, ...] = ()  # the defaults that are lists (copied per value)
    items: tuple[Elem | AnyItem, ...] = ()
    attributes: tuple[tuple[str, str, Any], ...] = ()  # (qname text, field name, zeep attribute)
    any_attribute: tuple[str, Any] | None = None
    n_elements: int = 0
    n_attributes: int = 0
    first_element: str = ""


@dataclass
class Decoder:
    """Shapes of one zeep schema, compiled lazily per type; decode() turns a body element into zeep's value."""

    schema: Any
    settings: Any
    _types: dict[int, Simple | Complex] = field(default_factory=dict)

    # ---- compiling ---------------------------------------------------------------------------------
    def shape_of(self, xsd_type: Any) -> Simple | Complex:
        key = id(xsd_type)
        found = self._types.get(key)
        if found is None:
            found = self._compile(xsd_type)
            self._types[key] = found
        return found

    def _compile(self, xsd_type: Any) -> Simple | Complex:
        from zeep.xsd.elements import Any as ZAny
        from zeep.xsd.elements import Element as ZElement
        from zeep.xsd.elements import Sequence as ZSequence
        from zeep.xsd.elements.any import AnyAttribute
        from zeep.xsd.types.complex import ComplexType
        from zeep.xsd.types.simple import AnySimpleType

        if isinstance(xsd_type, AnySimpleType):
            return Simple(xsd_type.pythonvalue)
        if not isinstance(xsd_type, ComplexType):
            return Complex(xsd_type, delegate=True)
        shape = Complex(xsd_type)
        self._types[id(xsd_type)] = shape  # before recursing: a type may contain itself
        if not xsd_type.attributes and not xsd_type.elements:
            shape.empty = True
            return shape
        nested = xsd_type.elements_nested
        simple_content = isinstance(xsd_type._element, ZElement) and isinstance(
            xsd_type._element.type, AnySimpleType
        )
        if simple_content or getattr(xsd_type, "_array_type", None) or len(nested) > 1:
            shape.delegate = True
            return shape
        items: list[Elem | AnyItem] = []
        if nested:
            seq = nested[0][1]
            if type(seq) is not ZSequence or seq.max_occurs != 1:
                shape.delegate = True
                return shape
            for name, part in seq.elements_nested:
                if type(part) is ZAny:
                    items.append(AnyItem(name, part.accepts_multiple, _max(part.max_occurs), part))
                elif isinstance(part, ZElement):
                    items.append(Elem(part.qname.localname, name, part.accepts_multiple, part.is_optional,
                                      _max(part.max_occurs), part))  # fmt: skip
                else:  # a nested indicator: zeep merges its result dict, modelled nowhere here
                    shape.delegate = True
                    return shape
        shape.items = tuple(items)
        attrs: list[tuple[str, str, Any]] = []
        for name, attr in xsd_type.attributes:
            if isinstance(attr, AnyAttribute):
                shape.any_attribute = (name, attr)
            elif attr.qname is not None:
                attrs.append((attr.qname.text, name, attr))
        shape.attributes = tuple(attrs)
        shape.defaults = tuple(xsd_type._value_class().__values__.items())
        shape.list_defaults = tuple(k for k, v in shape.defaults if type(v) is list)
        shape.n_elements = len(xsd_type.elements)
        shape.n_attributes = len(xsd_type.attributes)
        shape.first_element = xsd_type.elements[0][0] if xsd_type.elements else ""
        return shape

    def _context(self) -> Any:
        from zeep.xsd.context import XmlParserContext

        return XmlParserContext(settings=self.settings)  # type: ignore[no-untyped-call]

    # ---- decoding ----------------------------------------------------------------------------------
    def element(self, elem: Elem, xml: Any, *, allow_none: bool) -> Any:
        """zeep's Element.parse for one matched element."""
        if xml.get(XSI_TYPE) is not None:  # no attrib proxy per element
            return elem.zeep.parse(xml, self.schema, allow_none=allow_none, context=self._context())
        shape = elem.shape
        if shape is None:
            shape = elem.shape = self.shape_of(elem.zeep.type)
        if type(shape) is Simple:
            text = xml.text
            if text is None:
                return None
            try:
                return shape.convert(text)
            except (TypeError, ValueError):
                return None  # zeep logs a traceback and reads None
        return self.complex(shape, xml, allow_none=allow_none)  # type: ignore[arg-type]

    def complex(self, shape: Complex, xml: Any, *, allow_none: bool) -> Any:
        if shape.empty:
            return None
        # Element children only; len() also counts processing instructions and entity nodes, which go to zeep.
        children = deque(xml.iterchildren(etree.Element))
        if shape.delegate or len(children) != len(xml):
            return shape.zeep.parse_xmlelement(
                xml, self.schema, allow_none=allow_none, context=self._context()
            )
        attrib = xml.attrib
        if allow_none and not children and not attrib:
            return None
        values = dict(shape.defaults)
        for k in shape.list_defaults:  # a fresh list per value, as zeep's value class makes
            values[k] = list(values[k])
        if shape.items and children:
            self._sequence(shape.items, children, values)
        if children:
            values["_raw_elements"] = children
        if attrib:
            rest = dict(attrib)
            for qname, name, attr in shape.attributes:
                if qname in rest:
                    values[name] = attr.parse(rest.pop(qname))
            if shape.any_attribute is not None:
                values[shape.any_attribute[0]] = shape.any_attribute[1].parse(rest)
        return Obj(values, shape)

    def _sequence(self, items: tuple[Elem | AnyItem, ...], xs: deque[Any], out: dict[str, Any]) -> None:
        """zeep's Sequence.parse_xmlelements (max_occurs 1, strict=False)."""
        for item in items:
            if type(item) is Elem and item.max == 1 and not item.multiple:
                # _elements for one occurrence, inlined (most of a reply): a match is read, anything else leaves
                # None, which is what a required element's _Unexpected also gives here. xs is never empty here.
                head = xs[0]
                tag = head.tag
                if tag[tag.rfind("}") + 1 :] == item.local:
                    xs.popleft()
                    out[item.name] = self.element(item, head, allow_none=True)
                else:
                    out[item.name] = None
            elif type(item) is Elem:
                try:
                    out[item.name] = self._elements(item, xs)
                except _Unexpected:
                    out[item.name] = None
            else:
                out[item.name] = self._any(item, xs)  # type: ignore[arg-type]
            if not xs:
                break

    def _elements(self, elem: Elem, xs: deque[Any]) -> Any:
        """zeep's Element.parse_xmlelements: consume leading siblings with this local name."""
        result = []
        for _ in range(elem.max):
            if not xs:
                break
            head = xs[0]
            tag = head.tag  # an element's (complex() keeps only elements): "{ns}local" or "local"
            if tag[tag.rfind("}") + 1 :] == elem.local:
                xs.popleft()
                result.append(self.element(elem, head, allow_none=True))
            else:
                if not result and not elem.optional:
                    raise _Unexpected
                break
        if not elem.multiple:
            return result[0] if result else None
        return result

    def _any(self, item: AnyItem, xs: deque[Any]) -> Any:
        result = []
        for _ in range(item.max):
            if not xs:
                break
            value = item.zeep.parse(xs.popleft(), self.schema, context=self._context())
            if value is not None:
                result.append(value)
        if not item.multiple:
            return result[0] if result else None
        return result

    def body(self, zeep_element: Any, xml: Any) -> Any:
        """What zeep's DocumentMessage.deserialize returns for a Body whose first child is `xml`."""
        if XSI_TYPE in xml.attrib or not isinstance(xml.tag, str):
            value = zeep_element.parse(xml, self.schema, context=self._context())
        else:
            shape = self.shape_of(zeep_element.type)
            if type(shape) is Simple:
                value = None if xml.text is None else _convert(shape, xml.text)
            else:
                value = self.complex(shape, xml, allow_none=False)  # type: ignore[arg-type]
        return unwrap(value)


def unwrap(result: Any) -> Any:
    """zeep's convenience unwrapping of a response value (DocumentMessage.deserialize's tail)."""
    if not hasattr(result, "__len__"):
        return result
    if result is None or len(result) == 0:
        return None
    if len(result) > 1:
        return result
    values = result._values if isinstance(result, Obj) else result.__values__
    result = next(iter(values.values()))
    if isinstance(result, Obj):
        shape = result._shape
        if shape is not None and shape.n_elements == 1 and shape.n_attributes == 0:
            return getattr(result, shape.first_element)
        return result
    from zeep.xsd import CompoundValue

    if isinstance(result, CompoundValue):
        children = result._xsd_type.elements
        if len(children) == 1 and len(result._xsd_type.attributes) == 0:
            return getattr(result, children[0][0])
    return result


def _convert(shape: Simple, text: str) -> Any:
    try:
        return shape.convert(text)
    except (TypeError, ValueError):
        return None


def _max(max_occurs: Any) -> int:
    return _UNBOUNDED if max_occurs == "unbounded" else int(max_occurs)
