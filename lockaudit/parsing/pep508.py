"""PEP 508 requirement strings, parsed fast where they have the plain form.

Light on purpose (packaging and ``re`` only): the gate parses every requirement line of a
workspace with it, and the index client every Requires-Dist of every candidate.
"""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_CLAUSE = r"(?:===|~=|==|!=|<=|>=|<|>)\s*[A-Za-z0-9._+*!-]+"
_CLAUSES = rf"{_CLAUSE}(?:\s*,\s*{_CLAUSE})*"
# ``name [extras] specifiers-or-(specifiers) ; marker``: nearly every Requires-Dist written.
_PLAIN = re.compile(
    rf"\s*(?P<name>{_NAME})\s*"
    rf"(?:\[\s*(?P<extras>{_NAME}(?:\s*,\s*{_NAME})*)?\s*\])?\s*"
    rf"(?:(?P<specs>{_CLAUSES})|\(\s*(?P<paren>{_CLAUSES})\s*\))?\s*"
    r"(?:;\s*(?P<marker>\S.*?))?\s*"
)


def requirement(text: str) -> Requirement:
    """``Requirement(text)``, built from its parts when ``text`` has the plain form.

    packaging's requirement parser is a general tokenizer and costs ~50 us a string; the
    metadata of one image holds a few thousand, the requirement files and locks of a
    200-image workspace as many. The plain form is split by one strict pattern
    and its parts are parsed by packaging's own ``SpecifierSet`` and ``Marker`` (markers, few
    and repeated across projects, once per text); a URL, odd spacing or anything the pattern
    does not take goes to ``Requirement``, so do invalid parts, for its exact error. Checked
    equal (``==``, ``str``, every attribute) to ``Requirement`` on the embedded, synthetic
    and test indexes' Requires-Dist (7,000 strings) with packaging 26.4.
    """
    match = _PLAIN.fullmatch(text)
    if match is None:
        return Requirement(text)
    try:
        specifier = SpecifierSet(match["specs"] or match["paren"] or "")
        marker = _marker(match["marker"]) if match["marker"] else None
    except (InvalidSpecifier, InvalidMarker):
        return Requirement(text)
    parsed = Requirement.__new__(Requirement)
    parsed.name = match["name"]
    parsed.url = None
    extras = match["extras"]
    parsed.extras = {e.strip() for e in extras.split(",")} if extras else set()
    parsed.specifier = specifier
    parsed.marker = marker
    return parsed


@lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    # Shared by every requirement with this marker text: nothing mutates a Marker, and the
    # resolver's marker memo (by object) then answers once for all of them.
    return Marker(text)
