"""Ready-made scenarios: the PyTorch-style family of indexes, and N generated packages.

:func:`pytorch_scenario` has three indexes:

- ``default``: the public-index look-alike: ``torch 9.9.9`` (the dependency-confusion trap:
  a higher version than the real one, on the wrong index), numpy 1.24.3 / 1.26.4 / 2.0.0,
  the ``nvidia-*-cu12`` runtime wheels, ``triton 2.1.0``, torch's pure-Python dependencies,
  ``transformers`` (4.57.0 yanked), three sdist-only packages (``legacy-sdist`` with
  Metadata-Version 2.1, ``static-sdist`` 2.2 static, ``dynamic-sdist`` 2.2 with
  ``Dynamic: Requires-Dist``), and a ``new-python-only`` package requiring Python >=3.11.5;
- ``pytorch-cu121``: ``torch 2.1.0+cu121`` (``linux_x86_64`` wheel padded to 2 MB, its PEP 658
  file served but not advertised), ``torchaudio 2.1.0+cu121`` (advertised), ``triton 2.1.0``;
- ``pytorch-cpu``: ``torch 2.1.0+cpu``, ``torchaudio 2.1.0+cpu``.
"""

from __future__ import annotations

from tests.indexserver.scenario import (
    FileSpec,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
    Vuln,
)

__all__ = ["MANYLINUX", "NVIDIA_PINS", "many_packages_scenario", "pytorch_scenario"]

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
LINUX = "cp311-cp311-linux_x86_64"
PURE = "py3-none-any"
LINUX_X86 = 'platform_system == "Linux" and platform_machine == "x86_64"'

NVIDIA_PINS = {
    "nvidia-cuda-nvrtc-cu12": "12.1.105",
    "nvidia-cuda-runtime-cu12": "12.1.105",
    "nvidia-cublas-cu12": "12.1.3.1",
    "nvidia-cudnn-cu12": "8.9.2.26",
    "nvidia-nccl-cu12": "2.18.1",
}
TORCH_PURE_DEPS = ("filelock", "typing-extensions", "sympy", "networkx", "jinja2", "fsspec")


def _wheel(tags: str = PURE, mode: MetadataMode = MetadataMode.ABSENT, **kw: object) -> FileSpec:
    return FileSpec(kind="wheel", tags=tags, metadata=mode, **kw)  # type: ignore[arg-type]


def _simple(name: str, version: str, *requires: str, tags: str = PURE) -> Project:
    return Project(name, (Release(version, tuple(requires), files=(_wheel(tags),)),))


def _torch(local: str, requires: tuple[str, ...], padding: int) -> Project:
    files = (_wheel(LINUX, MetadataMode.SERVED, padding=padding),)
    release = Release(f"2.1.0+{local}", requires, ">=3.8.0", files=files, top_level=("torch",))
    return Project("torch", (release,))


def _torchaudio(local: str) -> Project:
    files = (_wheel(LINUX, MetadataMode.ADVERTISED),)
    return Project("torchaudio", (Release(f"2.1.0+{local}", ("torch==2.1.0",), files=files),))


def pytorch_scenario() -> Scenario:
    cuda_requires = (
        *TORCH_PURE_DEPS,
        *(f"{name}=={version}; {LINUX_X86}" for name, version in NVIDIA_PINS.items()),
        f"triton==2.1.0; {LINUX_X86}",
    )
    numpy = Project(
        "numpy",
        tuple(
            Release(v, (), rp, files=(_wheel(MANYLINUX), FileSpec(kind="sdist")))
            for v, rp in (("1.24.3", ">=3.8"), ("1.26.4", ">=3.9"), ("2.0.0", ">=3.9"))
        ),
        vulnerabilities=(
            (
                "1.24.3",
                (Vuln("PYSEC-0000-1", "a test vulnerability", ("CVE-0000-1",), ("1.26.0",)),),
            ),
        ),
    )
    transformers = Project(
        "transformers",
        (
            Release("4.57.0", ("numpy>=1.17",), ">=3.9", files=(_wheel(yanked="broken release"),)),
            Release(
                "4.57.1",
                ("numpy>=1.17", 'torch>=2.0; extra == "torch"'),
                ">=3.9",
                extras=("torch",),
                files=(_wheel(mode=MetadataMode.ADVERTISED),),
            ),
        ),
    )
    default = IndexSpec(
        "default",
        (
            _simple("torch", "9.9.9"),
            numpy,
            transformers,
            _simple("triton", "2.1.0", "filelock", tags=MANYLINUX),
            *(_simple(n, v, tags="py3-none-manylinux1_x86_64") for n, v in NVIDIA_PINS.items()),
            *(_simple(n, "1.0.0") for n in TORCH_PURE_DEPS),
            Project("legacy-sdist", (Release("1.0", ("numpy",), files=(FileSpec("sdist"),)),)),
            Project(
                "static-sdist",
                (
                    Release(
                        "1.0", ("numpy>=1.24",), files=(FileSpec("sdist", pkg_info_version="2.2"),)
                    ),
                ),
            ),
            Project(
                "dynamic-sdist",
                (
                    Release(
                        "1.0",
                        ("numpy",),
                        files=(FileSpec("sdist", pkg_info_version="2.2", dynamic=True),),
                    ),
                ),
            ),
            Project(
                "new-python-only",
                (
                    Release("1.0", (), ">=3.8"),
                    Release("2.0", (), ">=3.11.5"),
                    Release("3.0", (), ">=3.12"),
                ),
            ),
        ),
    )
    cu121 = IndexSpec(
        "pytorch-cu121",
        (
            _torch("cu121", cuda_requires, padding=2 * 1024 * 1024),
            _torchaudio("cu121"),
            _simple("triton", "2.1.0", "filelock", tags=MANYLINUX),
        ),
    )
    cpu = IndexSpec("pytorch-cpu", (_torch("cpu", TORCH_PURE_DEPS, 0), _torchaudio("cpu")))
    return Scenario((default, cu121, cpu))


def many_packages_scenario(count: int = 300) -> Scenario:
    """``pkg-000`` … one release each, requiring the next; metadata modes in rotation."""
    modes = (MetadataMode.ADVERTISED, MetadataMode.SERVED, MetadataMode.ABSENT)
    projects = []
    for i in range(count):
        requires = (f"pkg-{i + 1:03d}>=1.0",) if i + 1 < count else ()
        tags = MANYLINUX if i % 2 else PURE
        files = (_wheel(tags, modes[i % 3]),)
        projects.append(Project(f"pkg-{i:03d}", (Release("1.0.0", requires, files=files),)))
    return Scenario((IndexSpec("default", tuple(projects)),))
