"""Dockerfiles as BuildKit reads them, and the pip installs inside every RUN."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from lockaudit.errors import InputError, Location
from lockaudit.parsing.dockerfile import (
    Dockerfile,
    PipInstall,
    Span,
    parse_dockerfile,
    parse_dockerfile_text,
)
from lockaudit.parsing.shell import Redirect

DATA = Path(__file__).parent / "data" / "parsing"


def parse(text: str, **build_args: str) -> Dockerfile:
    return parse_dockerfile_text(text, "Dockerfile", build_args)


def installs(text: str, **build_args: str) -> list[PipInstall]:
    return [p for stage in parse(text, **build_args).stages for p in stage.pip_installs]


def one_install(text: str, **build_args: str) -> PipInstall:
    (install,) = installs(text, **build_args)
    return install


def pins(install: PipInstall) -> list[tuple[str, str, int]]:
    return [(r.name, str(r.requirement.specifier), r.location.line) for r in install.requirements]


# -- the fixture: a small pipeline Dockerfile -----------------------------------------------------


def test_pipeline_fixture() -> None:
    parsed = parse_dockerfile(DATA, "Dockerfile.pipeline", {"TORCH_VERSION": "2.2.0"})
    assert [(n, v) for n, v, _ in parsed.global_args] == [
        ("BASE", "python:3.11-slim"),
        ("TORCH_VERSION", "2.2.0"),
    ]
    builder, final = parsed.stages
    assert parsed.final is final
    assert (builder.from_line.image, builder.from_line.alias) == ("python:3.11-slim", "builder")
    assert builder.args == (("TORCH_VERSION", "2.2.0", Location("Dockerfile.pipeline", 5)),)
    assert [(k, v) for k, v, _ in builder.env] == [
        ("PIP_NO_CACHE_DIR", "1"),
        ("TORCH", "torch==2.2.0"),
    ]
    upgrade, main, heredoc = builder.pip_installs
    assert upgrade.upgrade and upgrade.cache_mount and pins(upgrade) == [("pip", "", 8)]
    assert main.location == Location("Dockerfile.pipeline", 10)
    assert pins(main) == [("numpy", ">=1.26", 11), ("torch", "==2.2.0", 12), ("pkg", "", 12)]
    assert main.redirects == (Redirect(">", "=2.0", 7),)
    assert main.local_args == (".",)
    assert main.requirement_files == ("requirements.txt",)
    assert heredoc.no_deps and pins(heredoc) == [("requests", "==2.31.0", 14)]
    assert not heredoc.cache_mount
    assert builder.copies[0].from_stage == "tools"  # an image: a stage cannot copy from itself
    # FROM an earlier stage inherits its ENV.
    assert [k for k, _, _ in final.env] == ["PIP_NO_CACHE_DIR", "TORCH"]
    assert pins(final.pip_installs[0]) == [("six", "", 18)]
    assert final.instructions[0].keyword == "FROM"
    assert builder.instructions[-1].location.line == 16


# -- instructions ---------------------------------------------------------------------------------


def test_instruction_fields_flags_and_end_line() -> None:
    text = (
        "FROM base\nrun --mount=type=cache,target=/root/.cache/pip --network=none \\\n  echo hi\n"
    )
    run = parse(text).final.instructions[1]
    assert run.keyword == "RUN"
    assert run.flags == ("--mount=type=cache,target=/root/.cache/pip", "--network=none")
    assert run.value == "echo hi"
    assert (run.location.line, run.end_line) == (2, 3)


def test_comments_and_blank_lines_inside_continuation() -> None:
    text = "FROM base\nRUN pip install \\\n# comment\n\n    six \\\n  # another\n    attrs\n"
    assert pins(one_install(text)) == [("six", "", 5), ("attrs", "", 7)]


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM base\nRUN pip install `\n    six\n"
    assert pins(one_install(text)) == [("six", "", 4)]


def test_directive_after_instruction_is_a_comment() -> None:
    text = "FROM base\n# escape=`\nRUN pip install \\\n six\n"
    assert pins(one_install(text)) == [("six", "", 4)]


def test_crlf_and_bom() -> None:
    text = "\ufeffFROM base\r\nRUN pip install \\\r\n  six\r\n"
    assert pins(one_install(text)) == [("six", "", 3)]


def test_heredoc_copy_and_body_kept() -> None:
    text = "FROM base\nCOPY <<EOF /etc/conf\nkey=value\nEOF\nRUN echo done\n"
    stage = parse(text).final
    copy_instruction = stage.instructions[1]
    assert copy_instruction.heredocs == ("key=value\n",)
    assert copy_instruction.end_line == 4
    assert stage.copies[0].sources == ("<<EOF",)
    assert stage.instructions[2].location.line == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "FROM b\nRUN <<EOF\nset -e\npip install six\nEOF\n",
            [("six", "", 4)],
            id="script-heredoc",
        ),
        pytest.param(
            "FROM b\nRUN bash -e <<'EOT'\npip install six\nEOT\n",
            [("six", "", 3)],
            id="bash-heredoc",
        ),
        pytest.param(
            "FROM b\nRUN <<-EOF\n\tpip install six\n\tEOF\n",
            [("six", "", 3)],
            id="tab-stripped-heredoc",
        ),
        pytest.param(
            "FROM b\nRUN python3 <<EOF\nimport os\nEOF\n", [], id="python-stdin-not-shell"
        ),
        pytest.param(
            "FROM b\nRUN echo '<<EOF' \"<<X\" && pip install six\n",
            [("six", "", 2)],
            id="quoted-marker-is-not-a-heredoc",
        ),
    ],
)
def test_run_heredocs(text: str, expected: list[tuple[str, str, int]]) -> None:
    found = installs(text)
    assert [p for install in found for p in pins(install)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'FROM b\nRUN ["pip", "install", "six==1.16.0"]',
            [("six", "==1.16.0", 2)],
            id="exec-form",
        ),
        pytest.param(
            'FROM b\nRUN ["/bin/sh", "-c", "pip install six && pip install attrs"]',
            [("six", "", 2), ("attrs", "", 2)],
            id="exec-form-shell",
        ),
        pytest.param(
            "FROM b\nRUN [not json] || pip install six",
            [("six", "", 2)],
            id="bad-json-is-shell-form",
        ),
    ],
)
def test_exec_form(text: str, expected: list[tuple[str, str, int]]) -> None:
    assert [p for install in installs(text) for p in pins(install)] == expected


# -- ARG / FROM / ENV -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "build_args", "image", "alias", "platform", "unresolved"),
    [
        pytest.param("FROM python:3.11", {}, "python:3.11", None, None, (), id="plain"),
        pytest.param(
            "from --platform=linux/amd64 python:3.11 as Base",
            {},
            "python:3.11",
            "Base",
            "linux/amd64",
            (),
            id="platform-and-alias-lowercase-keywords",
        ),
        pytest.param(
            "ARG TAG=3.11\nFROM python:${TAG}-slim",
            {},
            "python:3.11-slim",
            None,
            None,
            (),
            id="global-arg",
        ),
        pytest.param(
            "ARG TAG=3.11\nFROM python:$TAG",
            {"TAG": "3.12"},
            "python:3.12",
            None,
            None,
            (),
            id="build-arg-overrides",
        ),
        pytest.param(
            "ARG REG\nARG TAG=x\nFROM ${REG}/base:${TAG}",
            {},
            "/base:x",
            None,
            None,
            ("REG",),
            id="arg-without-value-unresolved",
        ),
        pytest.param(
            "FROM base:${UNDECLARED:-cpu}",
            {},
            "base:cpu",
            None,
            None,
            (),
            id="undeclared-with-default-is-resolved",
        ),
        pytest.param(
            "FROM base:$NOT_DECLARED",
            {"NOT_DECLARED": "x"},
            "base:",
            None,
            None,
            ("NOT_DECLARED",),
            id="build-arg-needs-declaration",
        ),
    ],
)
def test_from(
    text: str,
    build_args: dict[str, str],
    image: str,
    alias: str | None,
    platform: str | None,
    unresolved: tuple[str, ...],
) -> None:
    line = parse(text, **build_args).final.from_line
    assert (line.image, line.alias, line.platform, line.unresolved) == (
        image,
        alias,
        platform,
        unresolved,
    )
    assert line.location.line == text.count("\n") + 1


def test_stage_args_scope() -> None:
    text = (
        "ARG TORCH=2.1.0\nARG OTHER=o\nFROM base\n"
        "RUN pip install torch==${TORCH:-0} other==${OTHER:-0}\n"
        "ARG TORCH\nARG LOCAL=1.0\n"
        "RUN pip install torch==$TORCH local==$LOCAL\n"
    )
    stage = parse(text).final
    first, second = stage.pip_installs
    # Global ARGs are not visible in a stage until declared again there.
    assert pins(first) == [("torch", "==0", 4), ("other", "==0", 4)]
    assert pins(second) == [("torch", "==2.1.0", 7), ("local", "==1.0", 7)]
    assert [(n, v) for n, v, _ in stage.args] == [("TORCH", "2.1.0"), ("LOCAL", "1.0")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Substitution sees the values from before the instruction, as in BuildKit.
        pytest.param(
            'ENV A=1 B="two words" C=${A}x',
            [("A", "1"), ("B", "two words"), ("C", "x")],
            id="pairs",
        ),
        pytest.param("ENV PATH /venv/bin:$PATH", [("PATH", "/venv/bin:")], id="legacy-form"),
        pytest.param("ENV MSG hello  world", [("MSG", "hello world")], id="legacy-multi-word"),
    ],
)
def test_env(line: str, expected: list[tuple[str, str]]) -> None:
    stage = parse(f"FROM b\n{line}\n").final
    assert [(k, v) for k, v, _ in stage.env] == expected
    assert all(loc.line == 2 for _, _, loc in stage.env)


def test_env_used_by_run() -> None:
    text = 'FROM b\nENV PKGS="six attrs" V=1.0\nRUN pip install $PKGS x==$V\n'
    assert pins(one_install(text)) == [("six", "", 3), ("attrs", "", 3), ("x", "==1.0", 3)]


@pytest.mark.parametrize(
    ("line", "sources", "dest", "from_stage"),
    [
        pytest.param("COPY a b /dst/", ("a", "b"), "/dst/", None, id="copy"),
        pytest.param(
            "COPY --from=builder --chown=app:app /venv /venv",
            ("/venv",),
            "/venv",
            "builder",
            id="from-and-chown",
        ),
        pytest.param('ADD ["a b", "/c"]', ("a b",), "/c", None, id="json-add"),
        pytest.param(
            "COPY requirements-${V}.txt /tmp/",
            ("requirements-1.txt",),
            "/tmp/",
            None,
            id="variables",
        ),
    ],
)
def test_copy(line: str, sources: tuple[str, ...], dest: str, from_stage: str | None) -> None:
    (copy,) = parse(f"FROM b\nENV V=1\n{line}\n").final.copies
    assert (copy.sources, copy.dest, copy.from_stage, copy.location.line) == (
        sources,
        dest,
        from_stage,
        3,
    )


# -- pip install forms and options ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "pip install six",
        "pip3 install six",
        "pip3.11 install six",
        "python -m pip install six",
        "python3 -m pip install six",
        "python3.11 -m pip install six",
        "python3 -u -m pip install six",
        "/venv/bin/pip install six",
        "/usr/bin/python3 -m pip install six",
        "uv pip install six",
        "pip --no-cache-dir --timeout 60 install six",
        "PIP_X=1 pip install six",
        "cd /app && pip install six",
    ],
)
def test_recognised_forms(command: str) -> None:
    assert pins(one_install(f"FROM b\nRUN {command}\n")) == [("six", "", 2)]


@pytest.mark.parametrize(
    "command",
    [
        "pip download six",
        "pip uninstall six",
        "python -c 'pip install six'",
        "echo pip install six",
        "pipx install six",
        "pip",
        "uv add six",
    ],
)
def test_not_pip_install(command: str) -> None:
    assert installs(f"FROM b\nRUN {command}\n") == []


def test_install_options() -> None:
    text = (
        "FROM b\nRUN pip install -r req.txt --requirement=r2.txt -c c.txt --constraint c2.txt \\\n"
        "  -i https://i.example/simple --index-url=https://j.example/simple \\\n"
        "  --extra-index-url https://e.example -f ./wheels --find-links=/w2 \\\n"
        "  --no-deps --require-hashes --no-cache-dir -U --no-index --pre --user \\\n"
        "  --target /t --prefix=/p -q -v --break-system-packages --root-user-action=ignore \\\n"
        "  --progress-bar off --only-binary :all: --no-binary=x --force-reinstall \\\n"
        "  --brand-new-flag --brand-new=value -rmore.txt \\\n"
        "  -e git+https://github.com/o/r#egg=edit -e ./local six\n"
    )
    install = one_install(text)
    assert install.requirement_files == ("req.txt", "r2.txt", "more.txt")
    assert install.constraint_files == ("c.txt", "c2.txt")
    assert install.index_url == "https://j.example/simple"
    assert install.extra_index_urls == ("https://e.example",)
    assert install.find_links == ("./wheels", "/w2")
    assert (
        install.no_deps,
        install.require_hashes,
        install.no_cache_dir,
        install.upgrade,
        install.no_index,
    ) == (True, True, True, True, True)
    assert install.options == (
        "--pre",
        "--user",
        "--target=/t",
        "--prefix=/p",
        "-q",
        "-v",
        "--break-system-packages",
        "--root-user-action=ignore",
        "--progress-bar=off",
        "--only-binary=:all:",
        "--no-binary=x",
        "--force-reinstall",
        "--brand-new-flag",
        "--brand-new=value",
    )
    assert [(r.name, r.editable, r.location.line) for r in install.requirements] == [
        ("edit", True, 9),
        ("six", False, 9),
    ]
    assert install.local_args == ("./local",)
    assert not install.cache_mount


def test_option_missing_its_value_is_kept_raw() -> None:
    install = one_install("FROM b\nRUN pip install six -r\n")
    assert (install.requirement_files, install.options) == ((), ("-r",))


def test_unknown_variable_requirement_is_data() -> None:
    install = one_install(
        "FROM b\nARG TORCH_VERSION\nRUN pip install torch==${TORCH_VERSION} six\n"
    )
    assert pins(install) == [("six", "", 3)]
    assert install.unparsed[0][0] == "torch=="
    assert install.unknown_vars == ("TORCH_VERSION",)


def test_requirement_details() -> None:
    install = one_install(
        "FROM b\nRUN pip install 'uvicorn[standard]==0.27.0; python_version>\"3\"'\n"
    )
    (req,) = install.requirements
    assert req.pinned_version == Version("0.27.0")
    assert req.requirement.extras == {"standard"}
    assert req.requirement.marker is not None
    assert install.raw_words[-1].startswith("'uvicorn")


# -- errors ---------------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        "FROM b\nFROBNICATE x",
        "Dockerfile:2: unknown instruction 'FROBNICATE'",
        id="unknown-instruction",
    ),
    pytest.param("RUN echo", "Dockerfile:1: RUN before the first FROM", id="run-before-from"),
    pytest.param("# just a comment\nARG X=1\n", "Dockerfile:1: no FROM instruction", id="no-from"),
    pytest.param("FROM", "Dockerfile:1: FROM needs arguments", id="empty-from"),
    pytest.param(
        "FROM a b",
        "Dockerfile:1: expected 'FROM [--platform=...] image [AS name]'",
        id="from-extra-words",
    ),
    pytest.param("FROM a AS", "Dockerfile:1: expected 'FROM", id="from-as-without-name"),
    pytest.param(
        "# escape=x\nFROM b", "Dockerfile:1: invalid escape directive 'x'", id="bad-escape"
    ),
    pytest.param(
        "FROM b\nRUN <<EOF\necho\n",
        "Dockerfile:2: heredoc <<EOF has no closing EOF",
        id="unterminated-heredoc",
    ),
    pytest.param(
        "FROM b\nRUN echo ok && \\\n  echo 'oops\n",
        "Dockerfile:3: unterminated single",
        id="unterminated-quote-physical-line",
    ),
    pytest.param(
        "FROM b\nRUN pip install \\\n  six \\\n  'bad req'\n",
        "Dockerfile:4: invalid requirement 'bad req'",
        id="bad-requirement-physical-line",
    ),
    pytest.param(
        "FROM b\nRUN pip install 'torch=='",
        "Dockerfile:2: invalid requirement 'torch=='",
        id="bad-pin",
    ),
    pytest.param(
        "FROM b\nRUN <<EOF\necho 'x\nEOF\n",
        "Dockerfile:3: unterminated single quote",
        id="heredoc-body-error-line",
    ),
    pytest.param(
        "FROM b\nENV ONLYKEY", "Dockerfile:2: ENV ONLYKEY needs a value", id="env-no-value"
    ),
    pytest.param("FROM b\nENV =x", "Dockerfile:2: ENV expects KEY=VALUE", id="env-empty-key"),
    pytest.param(
        "FROM b\nCOPY onlyone",
        "Dockerfile:2: COPY needs a source and a destination",
        id="copy-no-dest",
    ),
    pytest.param("ARG 1BAD=x\nFROM b", "Dockerfile:1: invalid ARG name '1BAD'", id="bad-arg-name"),
]


@pytest.mark.parametrize(("text", "prefix"), ERRORS)
def test_errors(text: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse(text)
    assert str(info.value).startswith(prefix)


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        pytest.param("Dockerfile.missing", "Dockerfile.missing: no such file", id="missing"),
        pytest.param(
            "requirements/binary.txt", "requirements/binary.txt:2: binary file", id="binary"
        ),
    ],
)
def test_file_errors(path: str, prefix: str) -> None:
    with pytest.raises(InputError) as info:
        parse_dockerfile(DATA, path)
    assert str(info.value).startswith(prefix)


# -- RUN as the shell runs it: package commands, chaining, positions ----------------------------

PACKAGES_DOCKERFILE = """\
FROM python:3.11-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \\
    pip install fastapi>=0.100 uvicorn \\
 && python3 -m pip uninstall -y torch \\
 && conda install -y -c conda-forge numpy=1.26 scipy || true
RUN apt-get install -y -o Dpkg::Use-Pty=0 python3-numpy && uv pip install --system "a==1" | tee l
RUN <<EOF
pip3.11 install a
pip install b || micromamba install -n base c
EOF
"""


def test_package_commands_of_every_tool() -> None:
    runs = parse(PACKAGES_DOCKERFILE).final.runs
    found = [
        (p.tool, p.action, p.packages, p.location.line, p.masked.kind if p.masked else None)
        for run in runs
        for p in run.packages
    ]
    assert found == [
        ("pip", "install", ("fastapi", "uvicorn"), 4, "fallback"),
        ("pip", "uninstall", ("torch",), 5, "fallback"),
        ("conda", "install", ("numpy=1.26", "scipy"), 6, "fallback"),
        ("apt-get", "install", ("python3-numpy",), 7, None),
        ("uv", "install", ("a==1",), 7, None),  # pipefail from SHELL
        ("pip", "install", ("a",), 9, "sequence"),  # the heredoc script has no set -e
        ("pip", "install", ("b",), 10, "fallback"),
        ("micromamba", "install", ("c",), 10, None),
    ]
    assert runs[2].packages[2].fallback_of == 1
    first = runs[0].packages[0]
    assert first.redirects == (Redirect(">", "=0.100", 3),)
    assert first.pip is not None and first.pip.redirects == first.redirects
    assert runs[0].shell == ("/bin/bash", "-o", "pipefail", "-c")
    (mount,) = runs[0].mounts
    assert (mount.type, mount.target) == ("cache", "/root/.cache/pip")
    assert dict(mount.options)["sharing"] == "locked"


def test_spans_point_at_each_command_in_the_file() -> None:
    lines = PACKAGES_DOCKERFILE.splitlines()
    runs = parse(PACKAGES_DOCKERFILE).final.runs

    def text(span: Span) -> str:
        if span.start.line == span.end.line:
            return lines[span.start.line - 1][span.start.column : span.end.column]
        head = lines[span.start.line - 1][span.start.column :]
        return head + "..." + lines[span.end.line - 1][: span.end.column]

    spans = [p.span for run in runs for p in run.packages]
    assert all(s is not None for s in spans)
    assert [text(s) for s in spans if s is not None] == [
        "pip install fastapi>=0.100 uvicorn",
        "python3 -m pip uninstall -y torch",
        "conda install -y -c conda-forge numpy=1.26 scipy",
        "apt-get install -y -o Dpkg::Use-Pty=0 python3-numpy",
        'uv pip install --system "a==1"',
        "pip3.11 install a",
        "pip install b",
        "micromamba install -n base c",
    ]


def test_exec_form_has_no_shell_and_no_masking() -> None:
    (run,) = parse('FROM b\nRUN ["pip", "install", "six"]\n').final.runs
    assert run.shell == ()
    (package,) = run.packages
    assert (package.packages, package.masked, package.span) == (("six",), None, None)


def test_stage_shell_is_inherited_and_heredoc_shell_flags_read() -> None:
    text = (
        'FROM b AS one\nSHELL ["/bin/bash", "-e", "-c"]\nFROM one\n'
        "RUN pip install a; rm -rf /x\nRUN bash -eo pipefail <<EOF\npip install b | tee l\nEOF\n"
    )
    first, second = parse(text).final.runs
    assert first.shell == ("/bin/bash", "-e", "-c") and first.packages[0].masked is None
    assert second.packages[0].masked is None


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        pytest.param("sudo -H pip install a", ("pip", "install", ("a",)), id="sudo"),
        pytest.param("env -u X PIP_Y=1 pip3 install b", ("pip", "install", ("b",)), id="env"),
        pytest.param(
            "timeout -s KILL 600 python3 -m pip install c", ("pip", "install", ("c",)), id="timeout"
        ),
        pytest.param(
            "sudo -u me apt-get -q install -y python3-yaml",
            ("apt-get", "install", ("python3-yaml",)),
            id="sudo-user-apt",
        ),
        pytest.param("exec mamba remove -y d", ("mamba", "uninstall", ("d",)), id="exec-mamba"),
    ],
)
def test_wrapped_package_commands(run: str, expected: tuple[str, str, tuple[str, ...]]) -> None:
    (package,) = parse(f"FROM b\nRUN {run}\n").final.runs[0].packages
    assert (package.tool, package.action, package.packages) == expected


def test_input_redirect_from_a_version_never_runs() -> None:
    first, second = (
        parse("FROM b\nRUN pip install click<9 && pip install 'rich<14'\n").final.runs[0].packages
    )
    assert first.never_runs and first.packages == ("click",)
    assert not second.never_runs and second.packages == ("rich<14",)


def test_if_branches_follow_the_build_args() -> None:
    text = (
        "FROM b\nARG VARIANT=cuda\n"
        'RUN if [ "$VARIANT" = cpu ]; then \\\n'
        "      pip install torch --index-url https://example.invalid/cpu; \\\n"
        "    else pip install torch==2.1.0; fi\n"
    )
    cuda = parse(text).final
    cpu = parse(text, VARIANT="cpu").final
    assert [p.reached for p in cuda.runs[0].packages] == [False, True]
    assert [i.location.line for i in cuda.pip_installs] == [5]
    assert [i.location.line for i in cpu.pip_installs] == [4]


def test_local_project_with_extras_is_a_local_argument() -> None:
    install = one_install('FROM b\nRUN pip install -e ".[complete]" "./sub[a, b]" six\n')
    assert install.local_args == (".[complete]", "./sub[a, b]")
    assert pins(install) == [("six", "", 2)]
