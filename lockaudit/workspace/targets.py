"""What an image runs on, read from its base image tag and its Dockerfile.

Pure functions over parsed Dockerfiles (:func:`infer_target`); only :func:`workspace_targets`
reads files.

For each image: the Python version (and whether it is a Python image at all), the CUDA and
cuDNN versions, the distribution and its glibc, each with the reason it was inferred, so
``init`` can write it into the configuration and ``graph --format json`` can show why.

Evidence, strongest last (a later one overrides an earlier one):

1. the parent image's facts (a workspace image inherits what it is built on);
2. the base image tag: ``python:3.11.14-slim-bookworm``, ``nvidia/cuda:12.1.1-cudnn8-runtime-
   ubuntu22.04``, ``pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime``, ``ubuntu:22.04``,
   ``debian:bookworm-slim``, conda images;
3. the final stage's RUN lines: ``apt-get install python3`` (the distribution's default),
   ``python3.X`` (deadsnakes or the distribution), conda/mamba ``python=X.Y``,
   ``uv python install X.Y``, ``pyenv install X.Y.Z``; for CUDA, a ``cu128`` PyTorch index
   (``--index-url``/``--extra-index-url …/whl/cu128``), packages with a CUDA runtime of their
   own (``tensorflow[and-cuda]``, ``cupy-cuda12x``), then ``ENV``/``ARG CUDA_VERSION``;
4. for CUDA only, when nothing above says it: the requirement files the image installs
   (``nvidia-cuda-runtime-cu12==12.8.90`` is CUDA 12.8).

An image is *not* a Python image when its base is not a Python image (node, nginx, golang,
alpine, ubuntu...), its Dockerfile installs no Python and no Python packages, and no parent
is a Python image. Such an image is built, but never locked.

When only ``X.Y`` is known the full version is ``X.Y.0``: the lowest, so a release whose
Requires-Python needs a later patch is refused rather than locked for an interpreter that
might not satisfy it. The reason says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from lockaudit.errors import InputError
from lockaudit.parsing.dockerfile import Dockerfile, Stage
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Workspace

__all__ = [
    "Fact",
    "TargetFacts",
    "cuda_from_packages",
    "cuda_from_requirement_files",
    "infer_target",
    "is_requirements_text",
    "requirement_texts",
    "stage_chain",
    "workspace_targets",
]


@dataclass(frozen=True)
class Fact:
    value: str
    reason: str


@dataclass(frozen=True)
class TargetFacts:
    """What is known about an image's target; None where nothing says."""

    python: Fact | None = None  # full version ("3.10.12"), or "" with the reason: no Python
    cuda: Fact | None = None  # "12.1"
    cudnn: Fact | None = None  # "8"
    distro: Fact | None = None  # "ubuntu 22.04", "debian bookworm", "alpine 3.19"
    glibc: Fact | None = None  # "2.35"; "" on musl (Alpine)
    is_python: Fact = Fact("true", "assumed: nothing says otherwise")

    @property
    def python_image(self) -> bool:
        return self.is_python.value == "true"

    def as_json(self) -> dict[str, dict[str, str]]:
        fields = {
            "python": self.python,
            "cuda": self.cuda,
            "cudnn": self.cudnn,
            "distro": self.distro,
            "glibc": self.glibc,
            "python-image": self.is_python,
        }
        return {k: {"value": f.value, "reason": f.reason} for k, f in fields.items() if f}


# -- the data table -----------------------------------------------------------------------------
# Each distribution release: its default `python3` (full version as packaged in the release's
# updates pocket) and its glibc. Sources: packages.ubuntu.com (python3, libc6) and
# packages.debian.org (python3, libc6) for each release.
_UBUNTU = {
    "18.04": ("bionic", "3.6.9", "2.27"),
    "20.04": ("focal", "3.8.10", "2.31"),
    "22.04": ("jammy", "3.10.12", "2.35"),
    "24.04": ("noble", "3.12.3", "2.39"),
}
_DEBIAN = {
    "buster": ("10", "3.7.3", "2.28"),
    "bullseye": ("11", "3.9.2", "2.31"),
    "bookworm": ("12", "3.11.2", "2.36"),
    "trixie": ("13", "3.13.5", "2.41"),
}
# pytorch/pytorch images carry a conda Python set by pytorch's docker build at each release
# (the PYTHON_VERSION default of its Dockerfile); Ubuntu 22.04 since 2.0.
_PYTORCH_PYTHON = {
    "2.0": "3.10", "2.1": "3.10", "2.2": "3.10", "2.3": "3.10",
    "2.4": "3.11", "2.5": "3.11", "2.6": "3.11", "2.7": "3.11",
}
# Bases that bring a Python interpreter (and so a Python image) even before any pip install;
# a trailing `/` stands for every image of that namespace. An unsuffixed python tag
# (`python:3.11-slim`) floats between Debian releases: its distribution is not inferred.
_PYTHON_BASES = (
    "python", "pypy", "pytorch/pytorch", "continuumio/miniconda3", "continuumio/anaconda3",
    "condaforge/miniforge3", "condaforge/mambaforge", "mambaorg/micromamba",
    "tensorflow/tensorflow", "jupyter/", "quay.io/jupyter/", "nvcr.io/nvidia/pytorch",
    "nvcr.io/nvidia/tensorflow", "huggingface/", "ghcr.io/astral-sh/uv",
)

_TAG_PYTHON = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:[-.]|$)")
_CUDA_IN_TAG = re.compile(r"cuda(\d{2})\.?(\d)")
_CUDNN = re.compile(r"cudnn(\d+)")
_UBUNTU_IN_TAG = re.compile(r"ubuntu(\d\d\.\d\d)")
_ALPINE = re.compile(r"alpine(\d+\.\d+)?")
_APT_INSTALL = re.compile(r"\b(?:apt-get|apt|apk|yum|dnf|microdnf)\b[^;&|]*\binstall\b([^;&|]*)")
_PY_PACKAGE = re.compile(r"(?<![\w.-])python(3(?:\.(\d+))?)(?:-(?:dev|venv|pip|full|minimal))?\b")
_CONDA_PYTHON = re.compile(
    r"\b(?:conda|mamba|micromamba)\b[^;&|]*?\bpython\s*=+\s*(\d+\.\d+(?:\.\d+)?)"
)
# A RUN that runs conda/mamba and names `python=X.Y` anywhere (often through a variable set
# earlier in the same RUN: PYTHON_SPECIFIER="python=3.13" && mamba install "$PYTHON_SPECIFIER").
_CONDA_TOOL = re.compile(r"\b(?:conda|mamba|micromamba)\s+(?:install|create|env\s+create)\b")
_CONDA_ANYWHERE = re.compile(r"(?<![\w.-])python\s*=+\s*(\d+\.\d+(?:\.\d+)?)")
# Paths a Python environment lives at, in a COPY --from of a builder stage.
_PY_ENV_PATH = re.compile(r"venv|site-packages|dist-packages|/python\d|uv_python|conda|/\.local")
_RUNS_PYTHON = re.compile(r"(?:^|[\s\"'\[/])(?:python[\d.]*|gunicorn|uvicorn)(?:[\s\"',\]]|$)")
# The PyTorch wheel index of a CUDA version (`…/whl/cu128`): the image's CUDA runtime.
_TORCH_INDEX = re.compile(r"/whl/cu(\d{3,4})\b")
# Packages that carry a CUDA runtime of their own, in a pip line or a requirement file:
# `nvidia-cuda-runtime-cu12==12.8.90` pins CUDA 12.8; other `nvidia-*-cu12`, `cupy-cuda12x`,
# `jax[cuda12]` name only the major; `tensorflow[and-cuda]` depends on the nvidia-*-cu12
# wheels (TensorFlow's `and-cuda` extra since 2.14).
_CUDA_RUNTIME_PIN = re.compile(
    r"(?<![\w.-])nvidia-cuda-runtime-cu(\d+)\s*==\s*(\d+)\.(\d+)[\w.+]*", re.IGNORECASE
)
_CUDA_WHEELS = re.compile(
    r"(?<![\w.-])(?:nvidia-[a-z0-9-]+-cu(\d+)|cupy-cuda(\d+)x|jax\[cuda(\d+)[^\]]*\])"
    r"|(?<![\w.-])tensorflow\[and-cuda\]",
    re.IGNORECASE,
)
_UV_PYTHON = re.compile(r"\buv\s+python\s+install\s+(?:--\S+\s+)*(?:cpython-)?(\d+\.\d+(?:\.\d+)?)")
# `uv venv --python 3.10 /opt/venv`: the environment the image's packages go to runs that Python
# (uv fetches it when the distribution lacks it), whatever python3 the base image ships.
_UV_VENV = re.compile(
    r"\buv\s+venv\b[^;&|]*?(?:--python|-p)(?:=|\s+)(?:cpython-)?(\d+\.\d+(?:\.\d+)?)"
)
_PYENV = re.compile(r"\bpyenv\s+install\s+(?:-\S+\s+)*(\d+\.\d+\.\d+)")
_PY_TOOLS = re.compile(
    r"\b(?:pip3?|pipx|poetry|pipenv|conda|mamba|micromamba|uv)\s+(?:install|sync|create|add)\b"
    r"|\bpython3?(?:\.\d+)?\s+-m\s+pip\b"
)


def stage_chain(dockerfile: Dockerfile) -> tuple[Stage, ...]:
    """The final stage and the stages it is built FROM, base first: what ends up in the image."""
    by_alias = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    chain = [dockerfile.final]
    while (below := by_alias.get(chain[-1].from_line.image.lower())) and below not in chain:
        chain.append(below)
    return tuple(reversed(chain))


def infer_target(
    dockerfile: Dockerfile | None,
    *,
    base_image: str | None = None,
    inherited: TargetFacts | None = None,
    requirement_files: Sequence[tuple[str, str]] = (),
) -> TargetFacts:
    """The facts of an image built by ``dockerfile`` (None: unreadable, only its base counts).

    ``inherited``: the facts of the workspace image it is built on; otherwise the external
    base is ``base_image`` or, when that is None, the FROM the final stage descends from.
    ``requirement_files``: ``(path, text)`` of the requirement files it installs; their CUDA
    wheels count when neither the base nor the Dockerfile says CUDA.
    """
    chain = stage_chain(dockerfile) if dockerfile is not None else ()
    if inherited is not None:
        facts = inherited
    else:
        base = base_image or (chain[0].from_line.image if chain else None)
        facts = _from_base(base) if base else TargetFacts()
        base_image = base
    facts = _from_runs(facts, _run_texts(chain), chain, None)
    if facts.cuda is None:
        facts = _cuda_from_env(facts, chain)
    if facts.cuda is None:
        facts = replace(facts, cuda=cuda_from_requirement_files(requirement_files))
    if dockerfile is not None and not facts.python_image:
        facts = _from_copies_and_entrypoint(facts, dockerfile, chain)
    if not facts.python_image and base_image is not None and inherited is None:
        facts = replace(facts, is_python=Fact(
            "false",
            f"FROM {base_image} brings no Python and the Dockerfile installs no Python packages",
        ))
    return facts


def _from_copies_and_entrypoint(
    facts: TargetFacts, dockerfile: Dockerfile, chain: Sequence[Stage]
) -> TargetFacts:
    """A final stage that copies a Python environment out of a builder stage (a venv,
    site-packages, a uv- or conda-managed interpreter), or whose ENTRYPOINT/CMD runs Python."""
    by_alias = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    for stage in chain:
        for copy in stage.copies:
            source = by_alias.get((copy.from_stage or "").lower())
            if source is None or not any(_PY_ENV_PATH.search(p) for p in copy.sources):
                continue
            built = infer_target(_only(dockerfile, source))
            if built.python_image:
                alias = source.from_line.alias
                reason = f"{copy.location}: copies a Python environment from stage {alias}"
                return replace(facts, python=facts.python or built.python,
                               is_python=Fact("true", reason))
        for ins in stage.instructions:
            if ins.keyword in ("ENTRYPOINT", "CMD") and _RUNS_PYTHON.search(ins.value):
                reason = f"{ins.location}: {ins.keyword} runs Python"
                return replace(facts, is_python=Fact("true", reason))
    return facts


def _cuda_from_env(facts: TargetFacts, chain: Sequence[Stage]) -> TargetFacts:
    """``ARG``/``ENV CUDA_VERSION=13.3.0`` in the final stages: a CUDA toolkit installed by
    the Dockerfile itself (the nvidia/cuda images set the same variable)."""
    for stage in reversed(chain):
        values = [(n, v, loc) for n, v, loc in (*stage.env, *stage.args) if v is not None]
        for name, value, location in values:
            match = re.match(r"(\d+)\.(\d+)", value) if name == "CUDA_VERSION" else None
            if match is not None:
                reason = f"{location}: {name}={value}"
                return replace(facts, cuda=Fact(f"{match.group(1)}.{match.group(2)}", reason))
    return facts


def _only(dockerfile: Dockerfile, stage: Stage) -> Dockerfile:
    """The Dockerfile cut after ``stage``: what building ``--target`` that stage gives."""
    index = dockerfile.stages.index(stage)
    return replace(dockerfile, stages=dockerfile.stages[: index + 1])


def _from_base(ref: str) -> TargetFacts:
    path, tag = _split_ref(ref)
    said = f"FROM {ref}"
    facts = TargetFacts(is_python=Fact("false", f"{said} brings no Python"))
    if tag is None:
        tag = "latest"
    facts = _distro_from_tag(facts, path, tag, said)
    if any(path == b or (b.endswith("/") and path.startswith(b)) for b in _PYTHON_BASES):
        facts = replace(facts, is_python=Fact("true", f"{said}: a Python image"))
    if path == "python":
        facts = _python_tag(facts, tag, said)
    if path.endswith("nvidia/cuda"):
        facts = _cuda_tag(facts, tag, said, nvidia=True)
    if path == "pytorch/pytorch":
        facts = _pytorch_tag(facts, tag, said)
    return facts


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``(path, tag)``, Docker Hub's implicit ``docker.io/`` and ``library/`` dropped."""
    ref = ref.split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    path, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, None)
    path = path.lower().removeprefix("docker.io/").removeprefix("index.docker.io/")
    return path.removeprefix("library/"), tag


def _distro_from_tag(facts: TargetFacts, path: str, tag: str, said: str) -> TargetFacts:
    repo = path.rpartition("/")[2]
    ubuntu = _UBUNTU_IN_TAG.search(tag) or (
        re.match(r"(\d\d\.\d\d)", tag) if repo == "ubuntu" else None
    )
    if repo == "ubuntu" and tag in {codename for codename, _, _ in _UBUNTU.values()}:
        version = next(v for v, (c, _, _) in _UBUNTU.items() if c == tag)
        return _ubuntu(facts, version, said)
    if ubuntu and ubuntu.group(1) in _UBUNTU:
        return _ubuntu(facts, ubuntu.group(1), said)
    for codename, (_, _, glibc) in _DEBIAN.items():
        if codename in tag:
            return replace(
                facts,
                distro=Fact(f"debian {codename}", f"{said}: the tag names Debian {codename}"),
                glibc=Fact(glibc, f"glibc of Debian {codename}"),
            )
    alpine = _ALPINE.search(tag) if repo != "alpine" else re.match(r"(\d+\.\d+)?", tag)
    if repo == "alpine" or (alpine and "alpine" in tag):
        version = f" {alpine.group(1)}" if alpine and alpine.group(1) else ""
        return replace(
            facts,
            distro=Fact(f"alpine{version}", f"{said}: an Alpine image"),
            glibc=Fact("", "Alpine uses musl, not glibc: wheels must be musllinux"),
        )
    return facts


def _ubuntu(facts: TargetFacts, version: str, said: str) -> TargetFacts:
    codename, _, glibc = _UBUNTU[version]
    return replace(
        facts,
        distro=Fact(f"ubuntu {version}", f"{said}: Ubuntu {version} ({codename})"),
        glibc=Fact(glibc, f"glibc of Ubuntu {version}"),
    )


def _python_tag(facts: TargetFacts, tag: str, said: str) -> TargetFacts:
    match = _TAG_PYTHON.match(tag)
    if match is None:
        return facts
    short = f"{match.group(1)}.{match.group(2)}"
    if match.group(3) is not None:
        python = Fact(f"{short}.{match.group(3)}", f"{said}: the tag pins Python")
    else:
        python = Fact(f"{short}.0", f"{said}: Python {short}, patch not pinned ({short}.0 assumed)")
    return replace(facts, python=python)


def _cuda_tag(facts: TargetFacts, tag: str, said: str, *, nvidia: bool) -> TargetFacts:
    cuda = re.match(r"(\d+)\.(\d+)", tag) if nvidia else _CUDA_IN_TAG.search(tag)
    if cuda is not None:
        version = f"{cuda.group(1)}.{cuda.group(2)}"
        facts = replace(facts, cuda=Fact(version, f"{said}: the tag names CUDA"))
    cudnn = _CUDNN.search(tag)
    if cudnn is not None:
        facts = replace(facts, cudnn=Fact(cudnn.group(1), f"{said}: the tag names cuDNN"))
    return facts


def _pytorch_tag(facts: TargetFacts, tag: str, said: str) -> TargetFacts:
    facts = _cuda_tag(facts, tag, said, nvidia=False)
    release = re.match(r"(\d+\.\d+)", tag)
    if release and release.group(1) in _PYTORCH_PYTHON:
        short = _PYTORCH_PYTHON[release.group(1)]
        facts = replace(
            facts,
            python=Fact(f"{short}.0", f"{said}: pytorch {release.group(1)} images ship conda "
                        f"Python {short} (patch unknown, {short}.0 assumed)"),
        )
        if facts.distro is None:
            facts = _ubuntu(facts, "22.04", f"{said} (pytorch images since 2.0)")
    return facts


def _run_texts(stages: Sequence[Stage]) -> tuple[tuple[str, str], ...]:
    """(text, location) of each RUN of ``stages``, continuations joined and the stage's ARG
    and ENV values substituted (``python${PYTHON_VERSION}``, ``python=${PY}``)."""
    found: list[tuple[str, str]] = []
    for stage in stages:
        scope = {name: value for name, value, _ in stage.args if value is not None}
        scope.update({name: value for name, value, _ in stage.env})
        found += [
            (_expand(ins.value, scope), str(ins.location))
            for ins in stage.instructions
            if ins.keyword == "RUN"
        ]
    return tuple(found)


_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def _expand(text: str, scope: Mapping[str, str]) -> str:
    """Known variables replaced by their values (``${X:-d}``: the default when X is unknown);
    unknown ones are left as written, so nothing is inferred from them."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in scope:
            return scope[name]
        default = match.group(2)
        return default if default is not None else match.group(0)

    return _VARIABLE.sub(value, text)


def _from_runs(
    facts: TargetFacts,
    runs: Iterable[tuple[str, str]],
    chain: Sequence[Stage],
    base_image: str | None = None,
) -> TargetFacts:
    for text, where in runs:
        facts = _from_run(facts, text, where)
    if not facts.python_image and any(stage.pip_installs for stage in chain):
        facts = replace(facts, is_python=Fact("true", "the Dockerfile installs Python packages"))
    if not facts.python_image and base_image is not None:
        facts = replace(
            facts,
            is_python=Fact(
                "false",
                f"FROM {base_image} brings no Python and the Dockerfile installs no Python "
                "packages",
            ),
        )
    return facts


def _from_run(facts: TargetFacts, text: str, where: str) -> TargetFacts:
    wheels = _TORCH_INDEX.search(text)
    if wheels is not None and facts.cuda is None:
        major, minor = wheels.group(1)[:-1], wheels.group(1)[-1]
        reason = f"{where}: installs from the PyTorch index of CUDA {major}.{minor}"
        facts = replace(facts, cuda=Fact(f"{major}.{minor}", reason))
    if facts.cuda is None and _PY_TOOLS.search(text):
        facts = replace(facts, cuda=cuda_from_packages(text, where))
    conda = _CONDA_PYTHON if _CONDA_TOOL.search(text) is None else _CONDA_ANYWHERE
    for pattern, what in (
        (conda, "conda installs"),
        (_UV_PYTHON, "uv installs"),
        (_UV_VENV, "uv venv makes an environment of"),
        (_PYENV, "pyenv installs"),
    ):
        match = pattern.search(text)
        if match is not None:
            version = match.group(1)
            return _installed(facts, version, f"{where}: {what} Python {version}")
    minors = [
        match.group(2)
        for packages in _APT_INSTALL.findall(text)
        for match in _PY_PACKAGE.finditer(packages)
    ]
    if minors:  # `python3.11 python3-pip`: the explicit version wins over plain python3
        minor = next((m for m in minors if m is not None), None)
        facts = _apt_python(facts, minor, where, "deadsnakes" in text)
    if _PY_TOOLS.search(text) and not facts.python_image:
        facts = replace(facts, is_python=Fact("true", f"{where}: installs Python packages"))
    return facts


def cuda_from_packages(text: str, where: str) -> Fact | None:
    """The CUDA version the CUDA wheels named in ``text`` (a pip line, a requirement file)
    bring, with the reason; a pinned ``nvidia-cuda-runtime-cuNN`` says the minor too."""
    pin = _CUDA_RUNTIME_PIN.search(text)
    if pin is not None:
        version = f"{pin.group(2)}.{pin.group(3)}"
        return Fact(version, f"{where}: pins {pin.group(0)}, the CUDA {version} runtime")
    wheels = _CUDA_WHEELS.search(text)
    if wheels is None:
        return None
    major = next((g for g in wheels.groups() if g), "12")
    return Fact(major, f"{where}: installs {wheels.group(0)}, CUDA {major} wheels")


def cuda_from_requirement_files(files: Iterable[tuple[str, str]]) -> Fact | None:
    """The CUDA fact of ``(path, text)`` requirement files, at the line that says it: a pinned
    CUDA runtime wherever it is (it says the minor), else the first CUDA wheel."""
    facts = [
        fact
        for path, text in files
        for number, line in enumerate(text.splitlines(), start=1)
        if (fact := cuda_from_packages(line.split("#", 1)[0], f"{path}:{number}")) is not None
    ]
    return next((f for f in facts if "." in f.value), facts[0] if facts else None)


def _installed(facts: TargetFacts, version: str, reason: str) -> TargetFacts:
    if version.count(".") == 1:
        version, reason = f"{version}.0", f"{reason} (patch unknown: {version}.0 assumed)"
    return replace(facts, python=Fact(version, reason), is_python=Fact("true", reason))


def _apt_python(facts: TargetFacts, minor: str | None, where: str, deadsnakes: bool) -> TargetFacts:
    distro = facts.distro.value if facts.distro else ""
    default = _distro_python(distro)
    if minor is None or (default and default.startswith(f"3.{minor}.")):
        if not default:
            return replace(facts, is_python=Fact("true", f"{where}: installs python3"))
        reason = f"{where}: installs the python3 of {distro} ({default})"
        return replace(facts, python=Fact(default, reason), is_python=Fact("true", reason))
    source = "from deadsnakes" if deadsnakes else "with the package manager"
    return _installed(facts, f"3.{minor}", f"{where}: installs python3.{minor} {source}")


def _distro_python(distro: str) -> str:
    kind, _, version = distro.partition(" ")
    if kind == "ubuntu" and version in _UBUNTU:
        return _UBUNTU[version][1]
    if kind == "debian" and version in _DEBIAN:
        return _DEBIAN[version][1]
    return ""


# -- the one edge that reads files ------------------------------------------------------------


def workspace_targets(given: Inputs | Workspace) -> dict[str, TargetFacts]:
    """Image key -> the facts its Dockerfile and base state, parents first; a Dockerfile that
    cannot be parsed contributes only its configured base (``check`` reports it)."""
    inputs = as_inputs(given)
    facts: dict[str, TargetFacts] = {}
    for image in inputs.workspace.images:  # build order: parents' facts before their children
        try:
            dockerfile: Dockerfile | None = inputs.dockerfile(image)
        except InputError:
            dockerfile = None
        inherited = facts.get(image.parent) if image.parent is not None else None
        facts[image.key] = infer_target(
            dockerfile, base_image=image.base_image, inherited=inherited,
            requirement_files=requirement_texts(
                image.requirements, lambda path: inputs.file_text(path, errors="replace")
            ),
        )
    return facts


def requirement_texts(
    paths: Iterable[str], read: Callable[[str], str | None]
) -> tuple[tuple[str, str], ...]:
    """``(path, text)`` of the pip requirement files among ``paths`` that ``read`` can read."""
    texts = ((path, read(path)) for path in paths if is_requirements_text(path))
    return tuple((path, text) for path, text in texts if text is not None)


def is_requirements_text(path: str) -> bool:
    """A pip requirement file (``*.txt``, ``*.in``), not a lock of every platform (``uv.lock``
    lists the CUDA wheels of markers the image may never match) nor a pyproject."""
    return path.endswith((".txt", ".in"))
