"""Shell splitting as `sh` does it, for the parts a RUN line audit needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lockaudit.errors import InputError, Location
from lockaudit.parsing.shell import (
    Masking,
    Redirect,
    ShellSyntaxError,
    errexit_at,
    expand_words,
    masking,
    reached,
    split_commands,
)

HERE = Location("Dockerfile", 10)
ENV = {"PKGS": "numpy  scipy", "TORCH": "2.1.0", "EMPTY": "", "SPACED": " a b "}


def argvs(text: str) -> list[tuple[str, ...]]:
    return [c.argv for c in split_commands(text, HERE, ENV)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("pip install torch", [("pip", "install", "torch")], id="words"),
        pytest.param("  a\tb  ", [("a", "b")], id="blanks"),
        pytest.param("echo 'a b' \"c d\"", [("echo", "a b", "c d")], id="quotes"),
        pytest.param("echo 'a\"b' \"a'b\"", [("echo", 'a"b', "a'b")], id="quotes-in-quotes"),
        pytest.param(r"echo a\ b \"q\" \$X", [("echo", "a b", '"q"', "$X")], id="escapes"),
        pytest.param(
            'echo "\\$X \\" \\\\ \\n"', [("echo", '$X " \\ \\n')], id="escapes-in-double-quotes"
        ),
        pytest.param("echo 'a\\b'", [("echo", "a\\b")], id="backslash-literal-in-single-quotes"),
        pytest.param("echo a\\\nb", [("echo", "ab")], id="continuation-inside-word"),
        pytest.param("echo a \\\n  b", [("echo", "a", "b")], id="continuation-between-words"),
        pytest.param(
            "a && b || c; d | e & f\ng",
            [("a",), ("b",), ("c",), ("d",), ("e",), ("f",), ("g",)],
            id="separators",
        ),
        pytest.param("a;;b", [("a",), ("b",)], id="double-semicolon"),
        pytest.param("(cd x && make)", [("cd", "x"), ("make",)], id="subshell"),
        pytest.param(
            "if true; then pip install x; fi",
            [("true",), ("pip", "install", "x")],
            id="reserved-words-dropped",
        ),
        pytest.param(
            "echo a # comment; rm -rf /\necho b", [("echo", "a"), ("echo", "b")], id="comment"
        ),
        pytest.param("echo a#b", [("echo", "a#b")], id="hash-inside-word"),
        pytest.param(
            "pip install torch==$TORCH", [("pip", "install", "torch==2.1.0")], id="dollar-var"
        ),
        pytest.param(
            "pip install torch==${TORCH}+cu121",
            [("pip", "install", "torch==2.1.0+cu121")],
            id="braced-var",
        ),
        pytest.param(
            "echo ${NOPE:-x y} ${TORCH:-9} ${EMPTY:-d} ${EMPTY-d}",
            [("echo", "x", "y", "2.1.0", "d")],
            id="default-values",
        ),
        pytest.param('echo "${NOPE:-"q r"}"', [("echo", "q r")], id="quoted-default"),
        pytest.param("echo ${TORCH:+set} ${NOPE:+set}", [("echo", "set")], id="alternative"),
        pytest.param("echo $PKGS", [("echo", "numpy", "scipy")], id="field-splitting"),
        pytest.param('echo "$PKGS"', [("echo", "numpy  scipy")], id="no-splitting-in-quotes"),
        pytest.param("echo x$SPACED", [("echo", "x", "a", "b")], id="splitting-keeps-prefix"),
        pytest.param("echo $EMPTY $NOPE end", [("echo", "end")], id="empty-expansion-vanishes"),
        pytest.param("echo \"$EMPTY\" ''", [("echo", "", "")], id="quoted-empty-stays"),
        pytest.param("echo $ a$", [("echo", "$", "a$")], id="lone-dollar"),
        pytest.param(
            "echo $(date; echo x) `uname -r`",
            [("echo", "$(date; echo x)", "`uname -r`")],
            id="command-substitution-kept",
        ),
        pytest.param(
            "echo ${#TORCH} ${UNSET%.*}",
            [("echo", "${#TORCH}", "${UNSET%.*}")],
            id="length-and-unset-pattern-expansions-kept",
        ),
        pytest.param(
            "echo ${TORCH%.*} ${TORCH%%.*} ${TORCH#*.} ${TORCH##*.} \"${SPACED#?}\"",
            [("echo", "2.1", "2", "1.0", "0", "a b ")],
            id="pattern-removal-evaluated",
        ),
        pytest.param(
            "V=2 && pip install x==$V", [("pip", "install", "x==2")], id="assignment-sets-variable"
        ),
        pytest.param(
            "export V=3; pip install x==$V",
            [("export", "V=3"), ("pip", "install", "x==3")],
            id="export-sets-variable",
        ),
        pytest.param(
            "cat <<EOF > f\nbody $NOPE ; not a command\nEOF\nls",
            [("cat",), ("ls",)],
            id="heredoc-body-skipped",
        ),
        pytest.param("cat <<-EOF\n\tbody\n\tEOF\nls", [("cat",), ("ls",)], id="heredoc-tabs"),
    ],
)
def test_argv(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


@pytest.mark.parametrize(
    ("text", "argv", "redirects"),
    [
        pytest.param(
            "pip install pkg>=2.0",
            ("pip", "install", "pkg"),
            (Redirect(">", "=2.0", 2 + 1),),
            id="pkg-ge-hazard",
        ),
        pytest.param(
            "pip install 'pkg>=2.0'",
            ("pip", "install", "pkg>=2.0"),
            (),
            id="quoted-specifier-is-safe",
        ),
        pytest.param(
            "pip install a<2", ("pip", "install", "a"), (Redirect("<", "2", 3),), id="less-than"
        ),
        pytest.param(
            "make >> log 2>&1",
            ("make",),
            (Redirect(">>", "log", 1), Redirect("2>&", "1", 1)),
            id="append-and-dup",
        ),
        pytest.param(
            "cmd 2> err < in",
            ("cmd",),
            (Redirect("2>", "err", 1), Redirect("<", "in", 1)),
            id="io-number",
        ),
        pytest.param(
            "cmd &>/dev/null", ("cmd",), (Redirect("&>", "/dev/null", 1),), id="bash-both"
        ),
        pytest.param(
            "cmd a2>x",
            ("cmd", "a2"),
            (Redirect(">", "x", 2),),
            id="digits-after-letters-are-a-word",
        ),
        pytest.param(
            "cmd '2'>x", ("cmd", "2"), (Redirect(">", "x", 2),), id="quoted-digit-is-a-word"
        ),
        pytest.param(
            "X=1 cmd > $TORCH",
            ("cmd",),
            (Redirect(">", "2.1.0", 1),),
            id="target-expanded-index-after-assignments",
        ),
    ],
)
def test_redirects(text: str, argv: tuple[str, ...], redirects: tuple[Redirect, ...]) -> None:
    (command,) = split_commands(text, HERE, ENV)
    assert command.argv == argv
    assert command.redirects == redirects


def test_raw_words_keep_quotes_and_hazard() -> None:
    (command,) = split_commands('pip install "a b" pkg>=2.0 2>&1', HERE)
    assert command.raw_words == ("pip", "install", '"a b"', "pkg>=2.0", "2>&1")


def test_lines_offsets_assignments_and_unknown() -> None:
    text = "A=1 pip install \\\n  torch==$NOPE \\\n  ${ALSO_NOPE}x\nnext"
    first, second = split_commands(text, HERE, {})
    assert first.argv == ("pip", "install", "torch==", "x")
    assert first.assignments == (("A", "1"),)
    assert first.word_lines == (10, 10, 11, 12)
    assert text[first.word_offsets[2] :].startswith("torch")
    assert first.unknown_vars == ("NOPE", "ALSO_NOPE")
    assert (second.argv, second.line) == (("next",), 13)


def test_expand_words() -> None:
    words, unknown = expand_words('a="x y" b=${V}; c=$NOPE|d', HERE, {"V": "v"})
    assert words == ("a=x y", "b=v;", "c=|d")
    assert unknown == ("NOPE",)


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        pytest.param("echo 'abc", "Dockerfile:10: unterminated single quote", id="single"),
        pytest.param('echo ok\necho "abc', "Dockerfile:11: unterminated double quote", id="double"),
        pytest.param(
            "echo $(date",
            "Dockerfile:10: unterminated command substitution '$('",
            id="dollar-paren",
        ),
        pytest.param(
            "echo `date", "Dockerfile:10: unterminated command substitution '`'", id="backtick"
        ),
        pytest.param("echo ${X", "Dockerfile:10: unterminated parameter expansion", id="brace"),
        pytest.param("echo ${}", "Dockerfile:10: bad substitution", id="empty-brace"),
        pytest.param("echo >", "Dockerfile:10: redirection '>' has no target", id="no-target-eof"),
        pytest.param(
            "echo > ; ls", "Dockerfile:10: redirection '>' has no target", id="no-target-separator"
        ),
        pytest.param(
            "echo > > x", "Dockerfile:10: redirection '>' has no target", id="two-operators"
        ),
    ],
)
def test_errors(text: str, prefix: str) -> None:
    with pytest.raises(ShellSyntaxError) as info:
        split_commands(text, HERE)
    assert isinstance(info.value, InputError)
    assert str(info.value).startswith(prefix)


# -- chaining, nesting, positions ------------------------------------------------------------------


def test_separators_record_how_commands_are_chained() -> None:
    commands = split_commands("a && b || c; d | e & f\ng", HERE)
    assert [(c.argv[0], c.separator) for c in commands] == [
        ("a", "&&"),
        ("b", "||"),
        ("c", ";"),
        ("d", "|"),
        ("e", "&"),
        ("f", "\n"),
        ("g", ""),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The `||` after a closing brace, `fi` or `)` applies to the group's last command.
        pytest.param("{ a; } || true", [("a", "||", 1), ("true", "", 0)], id="brace-group"),
        pytest.param(
            "if x; then a; fi && b", [("x", ";", 1), ("a", "&&", 1), ("b", "", 0)], id="if"
        ),
        pytest.param("(a; b) | c", [("a", ";", 1), ("b", "|", 1), ("c", "", 0)], id="subshell"),
        pytest.param(
            "for p in x; do a; done; b",
            [("for", ";", 0), ("a", ";", 1), ("b", "", 0)],
            id="loop-body",
        ),
    ],
)
def test_groups_pass_operators_back_and_record_depth(
    text: str, expected: list[tuple[str, str, int]]
) -> None:
    commands = split_commands(text, HERE)
    assert [(c.argv[0], c.separator, c.depth) for c in commands] == expected


def test_offsets_span_each_command_in_the_text() -> None:
    text = "X=1 pip install 'a b' c>=2 2>&1 \\\n  && echo done # note"
    first, second = split_commands(text, HERE)
    assert text[first.offset : first.end] == "pip install 'a b' c>=2 2>&1"
    assert text[second.offset : second.end] == "echo done"
    assert (first.line, second.line) == (10, 11)


# -- what a failure does, with the real shell as the oracle ----------------------------------------

# `T` marks the install that fails; every other command succeeds.
MASKING_CASES = [
    ("pip install T", None),
    ("pip install T && echo ok", None),
    ("pip install T || true", "fallback"),
    ('pip install --only-binary :all: T || echo "no wheel"', "fallback"),
    ("pip install T; rm -rf /root/.cache", "sequence"),
    ("set -e; pip install T; rm -rf /x", None),
    ("set -e; pip install T && pip install b; rm x", "sequence"),  # -e skips && lists
    ("set -e; pip install b && pip install T; rm x", None),
    ("pip install T | tee log", "pipe"),
    ("pip install T 2>&1 | tee log && echo done", "pipe"),
    ("set -e; pip install T | tee log", "pipe"),
    ("pip install T || exit 1", "rethrows"),
    ("pip install T || exit", "rethrows"),
    ("pip install T || exit 0", "fallback"),
    ("pip install T || (echo failed; exit 1)", "rethrows"),
    ("pip install T || { echo failed; exit 1; }", "rethrows"),
    ("{ pip install T; } || true", "fallback"),
    ("(pip install T; rm x) && echo ok", "sequence"),
    ("set -e; (pip install T; rm x)", None),
    ("if true; then pip install T; fi", None),
    ("if true; then pip install T; fi || true", "fallback"),
    ("pip install T &\nwait", "background"),
    ("pip install T\nrm x", "sequence"),
    ("set -e\npip install T\nrm x", None),
    ("set -ex; pip install T", None),
    ("pip install T || pip install b", "fallback"),
    ("pip install b && pip install T || true", "fallback"),
    ("set -e; pip install T || echo x; rm y", "fallback"),
    ('C=1; if [ "$C" = 1 ]; then pip install T; else pip install b; fi', None),
    ('C=1; if [ "$C" = 2 ]; then pip install b; else pip install T; fi', None),
    ("if true; then pip install T; fi; rm x", "sequence"),
    ("if true; then if true; then pip install T; fi; rm x; else echo; fi", "sequence"),
    ("if true; then if true; then pip install T; fi; else rm x; fi", None),
    ("pip install T; if true; then rm x; fi", "sequence"),
    # An `if` inside an && list is one command of it; its operator applies to either branch.
    ('pip install T && if [ -n "" ]; then echo a && rm b; fi && rm x', None),
    ('if [ -z "" ]; then pip install T; else pip install b; fi && rm x', None),
    ('if [ -z "" ]; then pip install T; else pip install b; fi || true', "fallback"),
    ('if [ -z "" ]; then pip install T; else pip install b; fi; rm x', "sequence"),
    ("set -e; if true; then pip install T; fi; rm x", None),
    ("pip install b && { pip install T; } || true", "fallback"),
    ("pip install T && { echo a; } && { rm b; }; echo c", "sequence"),
    ("pip install T && (echo a) && (rm b)", None),
    ("{ pip install T; echo a; } || exit 1", "sequence"),
]
_STUBS = (
    'pip() { for a in "$@"; do [ "$a" = T ] && return 3; done; return 0; }; '
    "tee() { cat >/dev/null; }; rm() { :; }; "
)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize(("script", "kind"), MASKING_CASES)
def test_masking_agrees_with_sh(script: str, kind: str | None) -> None:
    commands = split_commands(script, HERE)
    index = next(i for i, c in enumerate(commands) if "T" in c.argv)
    found = masking(commands, index)
    got = None if found is None else ("rethrows" if found.rethrows else found.kind)
    assert got == kind
    status = subprocess.run(["sh", "-c", _STUBS + script], capture_output=True, check=False)
    assert (status.returncode == 0) == (kind not in (None, "rethrows"))


def test_masking_reads_the_shells_own_flags() -> None:
    commands = split_commands("pip install T | tee log; rm x", HERE)
    assert masking(commands, 0) == Masking("pipe", "|", commands[1])
    assert masking(commands, 0, errexit=True, pipefail=True) is None
    assert errexit_at(commands, 1) == (False, False)
    assert errexit_at(split_commands("set -o pipefail +e; x", HERE), 1, errexit=True) == (
        False,
        True,
    )


# -- words and redirections, with the real shell as the oracle -------------------------------------

WORD_CASES = [
    "'a b' \"c d\" e\\ f",
    "'a'\"b\"c",
    '"a\\"b" "\\$X" \'$X\'',
    "\"\" '' x",
    "a\\\nb c",
    "a#b # a comment",
    '"$X" $X ${X}y "${UNSET:-dflt}"',
    "'torch==2.1.0+cu121' \"pkg[extra]>=1\"",
    "fastapi>=0.100 uvicorn",
    "pkg>=2.0 2>&1 other",
    "a > out b",
    "x 2>err y",
]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize("words", WORD_CASES)
def test_words_and_redirect_targets_agree_with_sh(words: str, tmp_path: Path) -> None:
    env = {"X": "two words"}
    (command,) = split_commands(f"show {words}", HERE, env)
    cwd, shown = tmp_path / "cwd", tmp_path / "argv"
    cwd.mkdir()
    script = f'show() {{ for a in "$@"; do printf "%s\\0" "$a" >>"{shown}"; done; }}; show {words}'
    environment = {"PATH": os.environ.get("PATH", ""), **env}
    subprocess.run(["sh", "-c", script], cwd=cwd, env=environment, check=True)
    printed = shown.read_text().split("\0")[:-1]
    assert list(command.argv[1:]) == printed
    files = sorted(p.name for p in cwd.iterdir())
    written = sorted(r.target for r in command.redirects if r.op.lstrip("0123456789") == ">")
    assert files == written  # `pkg>=2.0` writes a file named `=2.0`, as sh does


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'if [ "$V" = cpu ]; then a; else b; fi; c',
            {"[": True, "a": True, "b": False, "c": True},
            id="known-condition",
        ),
        pytest.param(
            'if [ "$V" = gpu ]; then a; elif test -n "$V"; then b; else c; fi',
            {"[": True, "a": False, "test": True, "b": True, "c": False},
            id="elif",
        ),
        pytest.param(
            'if [ "$NOPE" = gpu ]; then a; else b; fi',
            {"[": True, "a": True, "b": False},
            id="unknown-takes-first-branch",
        ),
        pytest.param(
            'if [ "$V" != cpu ]; then a; else if [ -z "" ]; then b; else c; fi; d; fi',
            {"[": True, "a": False, "b": True, "c": False, "d": True},
            id="nested",
        ),
        pytest.param("if false; then a; fi; b", {"false": True, "a": False, "b": True}, id="false"),
    ],
)
def test_reached_follows_the_branch_sh_takes(text: str, expected: dict[str, bool]) -> None:
    commands = split_commands(text, HERE, {"V": "cpu"})
    assert dict(zip((c.argv[0] for c in commands), reached(commands), strict=True)) == expected
