"""pip requirements files: every feature and every error, table style."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from lockaudit.errors import InputError, Location
from lockaudit.parsing.requirements import (
    IndexOptions,
    RequirementLine,
    is_local_path,
    parse_requirement_string,
    parse_requirements,
    parse_requirements_text,
)

DATA = Path(__file__).parent / "data" / "parsing"


def only(text: str, **kwargs: object) -> RequirementLine:
    parsed = parse_requirements_text(text, "req.txt", **kwargs)  # type: ignore[arg-type]
    assert len(parsed.requirements) == 1, parsed.requirements
    return parsed.requirements[0]


# -- requirement lines ----------------------------------------------------------------------------

# text, name, str(requirement), pinned version, line
REQUIREMENTS = [
    pytest.param("torch==2.1.0", "torch", "torch==2.1.0", "2.1.0", 1, id="pin"),
    pytest.param(
        "Torch_Audio==2.1.0", "torch-audio", "Torch_Audio==2.1.0", "2.1.0", 1, id="name-normalised"
    ),
    pytest.param(
        "torch==2.1.0+cu121", "torch", "torch==2.1.0+cu121", "2.1.0+cu121", 1, id="local-version"
    ),
    pytest.param("six===1.16.0", "six", "six===1.16.0", "1.16.0", 1, id="arbitrary-equality"),
    pytest.param(
        "odd===not-a-version",
        "odd",
        "odd===not-a-version",
        None,
        1,
        id="arbitrary-equality-not-a-version",
    ),
    pytest.param("numpy==1.*", "numpy", "numpy==1.*", None, 1, id="wildcard-not-pinned"),
    pytest.param("numpy>=1.26,<2", "numpy", "numpy<2,>=1.26", None, 1, id="range-not-pinned"),
    pytest.param(
        "numpy==1.26.4,<2", "numpy", "numpy<2,==1.26.4", None, 1, id="two-specifiers-not-pinned"
    ),
    pytest.param(
        "uvicorn[standard]==0.27.0",
        "uvicorn",
        "uvicorn[standard]==0.27.0",
        "0.27.0",
        1,
        id="extras",
    ),
    pytest.param(
        'pywin32==306; sys_platform == "win32"',
        "pywin32",
        'pywin32==306; sys_platform == "win32"',
        "306",
        1,
        id="marker",
    ),
    pytest.param(
        "\n\n# c\n  requests   # trailing\n",
        "requests",
        "requests",
        None,
        4,
        id="comments-and-blank-lines",
    ),
    pytest.param(
        "requests>=2 \\\n  ,<3",
        "requests",
        "requests<3,>=2",
        None,
        1,
        id="continuation-keeps-first-line",
    ),
    pytest.param(
        "pkg @ https://files.example/pkg-1.0.tar.gz",
        "pkg",
        "pkg @ https://files.example/pkg-1.0.tar.gz",
        None,
        1,
        id="direct-url",
    ),
    pytest.param(
        "git+https://github.com/o/r.git@v1#egg=my_pkg",
        "my-pkg",
        "my_pkg @ git+https://github.com/o/r.git@v1#egg=my_pkg",
        None,
        1,
        id="vcs-egg",
    ),
    pytest.param(
        "https://files.example/wheel_pkg-2.0-py3-none-any.whl",
        "wheel-pkg",
        "wheel-pkg @ https://files.example/wheel_pkg-2.0-py3-none-any.whl",
        None,
        1,
        id="wheel-url-named-by-filename",
    ),
]


@pytest.mark.parametrize(("text", "name", "shown", "pinned", "line"), REQUIREMENTS)
def test_requirement_lines(text: str, name: str, shown: str, pinned: str | None, line: int) -> None:
    req = only(text)
    assert req.name == name
    assert str(req.requirement) == shown
    assert req.pinned_version == (Version(pinned) if pinned else None)
    assert req.location == Location("req.txt", line)


def test_hashes_and_per_line_options() -> None:
    text = (
        "torch==2.1.0 \\\n"
        "    --hash=sha256:ABCDEF01 \\\n"
        "    --hash sha256:0123 --config-settings=key=value --global-option=--x\n"
    )
    req = only(text)
    assert req.hashes == ("sha256:abcdef01", "sha256:0123")
    assert req.options == ("--config-settings=key=value", "--global-option=--x")
    assert req.raw.startswith("torch==2.1.0")
    assert "\\" not in req.raw  # continuations are joined


@pytest.mark.parametrize(
    ("text", "name", "url"),
    [
        pytest.param(
            "-e git+https://github.com/o/r@v1#egg=mypkg",
            "mypkg",
            "git+https://github.com/o/r@v1#egg=mypkg",
            id="short",
        ),
        pytest.param(
            "--editable=git+https://github.com/o/r#egg=other",
            "other",
            "git+https://github.com/o/r#egg=other",
            id="long-with-equals",
        ),
    ],
)
def test_editable(text: str, name: str, url: str) -> None:
    req = only(text)
    assert req.editable
    assert req.name == name
    assert req.requirement.url == url


# -- options lines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "-i https://a.example/simple",
            IndexOptions(index_url="https://a.example/simple"),
            id="index-url-short",
        ),
        pytest.param(
            "--index-url=https://a.example/simple\n--index-url https://b.example/simple",
            IndexOptions(index_url="https://b.example/simple"),
            id="last-index-url-wins",
        ),
        pytest.param(
            "--extra-index-url https://a.example\n--extra-index-url=https://b.example",
            IndexOptions(extra_index_urls=("https://a.example", "https://b.example")),
            id="extra-index-urls-accumulate",
        ),
        pytest.param(
            "-f ./wheels\n--find-links=https://f.example/links",
            IndexOptions(find_links=("./wheels", "https://f.example/links")),
            id="find-links",
        ),
        pytest.param("--no-index", IndexOptions(no_index=True), id="no-index"),
        pytest.param(
            "--pre --prefer-binary",
            IndexOptions(pre=True, prefer_binary=True),
            id="two-flags-one-line",
        ),
        pytest.param(
            "--only-binary=:all:\n--no-binary torch",
            IndexOptions(only_binary=(":all:",), no_binary=("torch",)),
            id="binary",
        ),
        pytest.param(
            "--trusted-host mirror.example",
            IndexOptions(trusted_hosts=("mirror.example",)),
            id="trusted-host",
        ),
        pytest.param(
            "--index-url ${INDEX}/simple",
            IndexOptions(index_url="https://env.example/simple"),
            id="env-expanded",
        ),
        pytest.param(
            "--index-url ${UNSET_VAR}/simple",
            IndexOptions(index_url="${UNSET_VAR}/simple"),
            id="unknown-env-kept",
        ),
        pytest.param(
            "--index-url $INDEX/simple",
            IndexOptions(index_url="$INDEX/simple"),
            id="only-braced-form-expanded",
        ),
        pytest.param(
            "--index-url ${index}/simple",
            IndexOptions(index_url="${index}/simple"),
            id="lower-case-not-expanded",
        ),
    ],
)
def test_options(text: str, expected: IndexOptions) -> None:
    parsed = parse_requirements_text(
        text, "req.txt", env={"INDEX": "https://env.example", "index": "nope"}
    )
    assert parsed.options == expected
    assert parsed.requirements == ()


def test_env_expansion_in_requirement() -> None:
    req = only("torch==${TORCH_VERSION}", env={"TORCH_VERSION": "2.1.0"})
    assert req.pinned_version == Version("2.1.0")


# -- includes -------------------------------------------------------------------------------------


def test_includes_and_constraints_from_files() -> None:
    parsed = parse_requirements(DATA, "requirements/main.txt")
    assert [(r.name, r.location) for r in parsed.requirements] == [
        ("numpy", Location("requirements/sub/base.txt", 2)),
        ("packaging", Location("requirements/common.txt", 1)),
        ("requests", Location("requirements/main.txt", 4)),
    ]
    assert [(r.name, r.constraint, r.location.line) for r in parsed.constraints] == [
        ("idna", True, 1),
        ("urllib3", True, 2),
    ]
    assert not any(r.constraint for r in parsed.requirements)
    assert parsed.includes == (
        "requirements/main.txt",
        "requirements/sub/base.txt",
        "requirements/common.txt",
        "requirements/constraints.txt",
        "requirements/more-constraints.txt",
    )
    assert parsed.options.extra_index_urls == ("https://extra.example/simple",)


def test_bom_and_crlf() -> None:
    parsed = parse_requirements(DATA, "requirements/bom-crlf.txt")
    assert [r.name for r in parsed.requirements] == ["torch", "numpy"]
    assert parsed.requirements[1].hashes == ("sha256:aa",)
    assert parsed.requirements[1].location.line == 2


def test_include_resolved_against_root_given_to_text_parser() -> None:
    parsed = parse_requirements_text("-r common.txt\n", "requirements/x.txt", root=DATA)
    assert [r.name for r in parsed.requirements] == ["packaging"]


# -- errors ---------------------------------------------------------------------------------------

ERRORS = [
    pytest.param("foo==", "req.txt:1: invalid requirement 'foo=='", id="bad-specifier"),
    pytest.param(
        "a#b==1",
        "req.txt:1: invalid requirement 'a#b==1'",
        id="hash-glued-to-a-word-is-not-a-comment",
    ),
    pytest.param("ok\n\nfoo bar", "req.txt:3: invalid requirement 'foo bar'", id="two-words"),
    pytest.param('"foo"', "req.txt:1: invalid requirement '\"foo\"'", id="quoted-name"),
    pytest.param("foo; python_version >", "req.txt:1: invalid requirement", id="bad-marker"),
    pytest.param(
        "git+github.com/x",
        "req.txt:1: invalid requirement 'git+github.com/x'",
        id="vcs-without-url",
    ),
    pytest.param(
        "ok\nfoo \\", "req.txt:2: backslash continuation at end of file", id="continuation-at-eof"
    ),
    pytest.param("--frobnicate", "req.txt:1: unknown option '--frobnicate'", id="unknown-option"),
    pytest.param("-x y", "req.txt:1: unknown option '-x'", id="unknown-short-option"),
    pytest.param("foo --bogus", "req.txt:1: unknown option '--bogus'", id="unknown-line-option"),
    pytest.param(
        "--index-url", "req.txt:1: option '--index-url' needs a value", id="missing-value"
    ),
    pytest.param("--pre=yes", "req.txt:1: option '--pre' takes no value", id="flag-with-value"),
    pytest.param("foo --hash=md5:00", "req.txt:1: invalid --hash 'md5:00'", id="bad-hash"),
    pytest.param(
        "--hash=sha256:00",
        "req.txt:1: option '--hash' belongs on a requirement line",
        id="hash-alone",
    ),
    pytest.param("--index-url 'x", "req.txt:1: cannot split options", id="unterminated-quote"),
    pytest.param(
        "-r other.txt",
        "req.txt:1: cannot read included file 'other.txt'",
        id="include-without-root",
    ),
    pytest.param(
        "-r https://x.example/r.txt", "req.txt:1: remote requirement files", id="remote-include"
    ),
]


@pytest.mark.parametrize(("text", "prefix"), ERRORS)
def test_errors(text: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse_requirements_text(text, "req.txt")
    assert str(info.value).startswith(prefix)


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        pytest.param(
            "requirements/cycle/a.txt",
            "requirements/cycle/b.txt:2: include cycle: requirements/cycle/a.txt -> "
            "requirements/cycle/b.txt -> requirements/cycle/a.txt",
            id="cycle",
        ),
        pytest.param(
            "requirements/missing-include.txt",
            "requirements/missing-include.txt:2: no such file: requirements/does-not-exist.txt",
            id="missing-include-names-the-line",
        ),
        pytest.param("requirements/nope.txt", "requirements/nope.txt: no such file", id="missing"),
        pytest.param("requirements", "requirements: is a directory", id="directory"),
        pytest.param(
            "requirements/binary.txt", "requirements/binary.txt:2: binary file", id="binary"
        ),
        pytest.param(
            "requirements/latin1.txt", "requirements/latin1.txt:2: not UTF-8 text", id="not-utf8"
        ),
    ],
)
def test_file_errors(path: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse_requirements(DATA, path)
    assert str(info.value).startswith(prefix)


# -- one requirement string -----------------------------------------------------------------------


def test_parse_requirement_string_keeps_location() -> None:
    where = Location("Dockerfile", 12)
    req = parse_requirement_string("  torch==2.1.0  ", where)
    assert (req.name, req.pinned_version, req.location) == ("torch", Version("2.1.0"), where)
    with pytest.raises(InputError, match=r"^Dockerfile:12: invalid requirement 'torch=='"):
        parse_requirement_string("torch==", where)


@pytest.mark.parametrize(
    ("arg", "local"),
    [
        (".", True),
        ("./pkg", True),
        ("/src/pkg", True),
        ("dist/x-1.0-py3-none-any.whl", True),
        ("x-1.0.tar.gz", True),
        ("torch==2.1.0", False),
        ("pkg @ https://x.example/p-1.0-py3-none-any.whl", False),
        ("git+https://github.com/o/r#egg=x", False),
        ("numpy>=1.26", False),
    ],
)
def test_is_local_path(arg: str, local: bool) -> None:
    assert is_local_path(arg) is local


def test_direct_references_without_a_name_are_kept_with_their_line() -> None:
    """pip learns their name by building; lockaudit keeps them for a rule to report."""
    parsed = parse_requirements_text(
        "six==1.16.0\n./local/pkg\ngit+https://github.com/o/r.git\n-e .\n", "req.txt"
    )
    assert [r.name for r in parsed.requirements] == ["six"]
    assert [(text, str(where)) for text, where in parsed.unnamed] == [
        ("./local/pkg", "req.txt:2"),
        ("git+https://github.com/o/r.git", "req.txt:3"),
        (".", "req.txt:4"),
    ]
