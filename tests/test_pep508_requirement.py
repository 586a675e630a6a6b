"""The fast Requires-Dist reader gives exactly what packaging's parser gives, or its error.

`lockaudit.parsing.pep508.requirement` splits the plain form itself and builds the
`Requirement` from packaging's own `SpecifierSet` and `Marker`. Anything it builds must be
indistinguishable from `Requirement(text)`: equal, the same string, the same attributes, and
the same verdict on invalid text. Checked on every Requires-Dist of the recorded embedded
graph and on generated strings; a packaging release that gives `Requirement` more state
fails the first test instead of silently building incomplete objects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement

from lockaudit.parsing.pep508 import requirement

GRAPH = Path(__file__).resolve().parent.parent / "benchmarks/data/embedded-index.json"


def _same(text: str) -> None:
    try:
        expected = Requirement(text)
    except InvalidRequirement:
        with pytest.raises(InvalidRequirement):
            requirement(text)
        return
    got = requirement(text)
    assert got == expected, text
    assert str(got) == str(expected), text
    assert got.name == expected.name
    assert got.url == expected.url
    assert got.extras == expected.extras
    assert got.specifier == expected.specifier
    assert str(got.marker) == str(expected.marker)
    assert hash(got) == hash(expected)


def test_requirement_state_is_what_the_fast_reader_fills() -> None:
    assert set(Requirement.__slots__) == {"name", "url", "extras", "specifier", "marker"}


def test_every_requires_dist_of_the_embedded_graph() -> None:
    packages = json.loads(GRAPH.read_text())["packages"]
    texts = {text for package in packages for text in package["requires_dist"]}
    assert len(texts) > 200
    for text in sorted(texts):
        _same(text)


@pytest.mark.parametrize(
    "text",
    [
        "numpy",
        "numpy>=1.21,<2",
        "numpy (>=1.21, <2)",
        "Foo_Bar[Extra_One, two] ~= 1.4.2 ; python_version < '3.12' and extra == 'Test_X'",
        "torch==2.1.0+cu121",
        "a===arbitrary",
        "pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl",
        "PyYAML (>=5.1.*)",  # invalid: a wildcard with >=
        "name>=1.0; ",  # invalid: an empty marker
        "-bad-name",
        "name[",
        "name>=1.0 extra",
        "x; os_name == 'nt' or (platform_machine == 'x86_64' and python_version >= \"3.9\")",
    ],
)
def test_known_forms(text: str) -> None:
    _same(text)


_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?", fullmatch=True)
_versions = st.from_regex(
    r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}(\.\*|rc1|\.post1|\+local)?", fullmatch=True
)
_ops = st.sampled_from(["==", "!=", "<=", ">=", "<", ">", "~=", "==="])
_clause = st.builds(lambda op, sp, v: f"{op}{sp}{v}", _ops, st.sampled_from(["", " "]), _versions)
_markers = st.sampled_from(
    [
        "",
        "; python_version < '3.11'",
        ';extra == "test"',
        "; sys_platform == 'linux' and platform_machine != 'aarch64'",
        "; extra == 'Dev_Tools' or python_full_version >= '3.11.7'",
        "; bogus_variable == '1'",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    name=_names,
    extras=st.lists(_names, max_size=2),
    clauses=st.lists(_clause, max_size=3),
    parens=st.booleans(),
    marker=_markers,
    space=st.sampled_from(["", " ", "  "]),
)
def test_generated_plain_forms(
    name: str, extras: list[str], clauses: list[str], parens: bool, marker: str, space: str
) -> None:
    specs = ",".join(clauses)
    if parens and specs:
        specs = f"({specs})"
    extra = f"[{', '.join(extras)}]" if extras else ""
    _same(f"{name}{space}{extra}{space}{specs}{space}{marker}")
