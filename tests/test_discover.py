"""``lockaudit init`` discovery on repositories that have never seen lockaudit.

The main fixture (``tests/data/discover/pipeline``) copies the layout of the speech pipeline's
write-up: ``ARG REGISTRY=rajiup`` + ``FROM ${REGISTRY}/cp-whisperx-app-base-ml:cuda``, base
images in ``docker/base/`` and ``docker/base-cuda/``, shared files under ``docker/`` and a build
script whose ``sed`` line makes the CPU fallbacks.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from lockaudit.errors import InputError
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.discover import Discovery, FoundImage, discover_workspace, write_config
from lockaudit.workspace.model import Variant

DATA = Path(__file__).parent / "data" / "discover"
GPU_STAGES = ("asr", "diarization", "silero-vad", "pyannote-vad", "second-pass-translation",
              "lyrics-detection")
CPU_STAGES = ("demux", "tmdb", "mux", "pre-ner", "post-ner", "subtitle-gen")


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    root = tmp_path / "pipeline"
    shutil.copytree(DATA / "pipeline", root)
    return root


def images(discovery: Discovery) -> dict[str, FoundImage]:
    return {image.key: image for image in discovery.images}


def test_pipeline_every_image_and_parent_found(pipeline: Path) -> None:
    found = discover_workspace(pipeline)
    assert found.problems == ()
    by_key = images(found)
    assert set(by_key) == {
        "base:cpu", "base:cuda", "base-ml:cuda",
        *(f"{s}:cpu" for s in CPU_STAGES), *(f"{s}:cuda" for s in GPU_STAGES),
    }
    assert by_key["base:cpu"].base_image == "python:3.11-slim"
    assert by_key["base:cuda"].base_image == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert by_key["base:cuda"].dockerfile == "docker/base-cuda/Dockerfile"
    assert by_key["base-ml:cuda"].parent == "base:cuda"
    for stage in CPU_STAGES:
        assert by_key[f"{stage}:cpu"].parent == "base:cpu"
        assert by_key[f"{stage}:cpu"].variant is Variant.CPU
    for stage in GPU_STAGES:
        image = by_key[f"{stage}:cuda"]
        assert (image.parent, image.variant) == ("base-ml:cuda", Variant.CUDA)
        assert image.fallback is not None
        assert (image.fallback.tag, image.fallback.parent) == ("cpu", "base:cpu")
    assert by_key["post-ner:cpu"].requirements == ("docker/post-ner/requirements-ner.txt",)
    assert by_key["base:cpu"].requirements == ("docker/requirements-common.txt",)


def test_pipeline_settings(pipeline: Path) -> None:
    config = tomllib.loads(discover_workspace(pipeline).config_toml)["tool"]["lockaudit"]
    assert config["registry"] == "rajiup"
    assert config["image-prefix"] == "cp-whisperx-app-"
    assert config["versions"] == "docker/versions.txt"
    assert config["common"] == "docker/requirements-common.txt"
    # python 3.11 from both bases (python:3.11-slim, apt python3.11), patch not pinned: 3.11.0
    assert config["target"] == {"cuda": "12.1", "glibc": "2.35", "python": "3.11.0"}
    assert {(c["file"], c.get("variant")) for c in config["constraints"]} == {
        ("docker/constraints/cuda121.txt", "cuda"), ("docker/constraints/cpu.txt", "cpu"),
    }
    [index] = config["indexes"]
    assert index["packages"] == ["torch", "torchaudio"] and index["variant"] == "cuda"


def test_pipeline_config_loads_without_hand_edits(pipeline: Path) -> None:
    found = discover_workspace(pipeline)
    write_config(pipeline, found)
    workspace = load_workspace(pipeline)
    keys = [image.key for image in workspace.images]
    assert len(keys) == 15 + len(GPU_STAGES)
    assert keys.index("base:cuda") < keys.index("base-ml:cuda") < keys.index("asr:cuda")
    assert workspace.image("asr:cpu").variant_of == "asr:cuda"
    assert workspace.image("asr:cpu").parent == "base:cpu"
    assert workspace.image("asr:cuda").target.cuda == "12.1"
    assert workspace.registry == "rajiup" and workspace.image_prefix == "cp-whisperx-app-"


def test_sed_fallback_without_an_arg_says_so_in_the_toml(pipeline: Path) -> None:
    text = discover_workspace(pipeline).config_toml
    assert "# built by rewriting docker/asr/Dockerfile with sed" in text


def test_naming_alone_finds_the_graph(pipeline: Path) -> None:
    shutil.rmtree(pipeline / "scripts")
    found = discover_workspace(pipeline)
    assert found.problems == ()
    by_key = images(found)
    assert by_key["base-ml:cuda"].parent == "base:cuda"
    assert by_key["asr:cuda"].parent == "base-ml:cuda"  # tag from its variant
    assert by_key["demux:cpu"].parent == "base:cpu"
    assert all(image.fallback is None for image in found.images)


def test_fallback_build_arg_found_when_an_arg_carries_the_parent(pipeline: Path) -> None:
    (pipeline / "docker/asr/Dockerfile").write_text(
        "ARG REGISTRY=rajiup\nARG PARENT_IMAGE=cp-whisperx-app-base-ml:cuda\n"
        "FROM ${REGISTRY}/${PARENT_IMAGE}\nRUN pip install --no-cache-dir whisperx==3.7.2\n"
    )
    fallback = images(discover_workspace(pipeline))["asr:cuda"].fallback
    assert fallback is not None
    assert fallback.build_args == (("PARENT_IMAGE", "cp-whisperx-app-base:cpu"),)
    assert fallback.note is None


def test_sed_into_a_file_then_build(tmp_path: Path, pipeline: Path) -> None:
    (pipeline / "scripts/build-all-images.sh").write_text(
        "REGISTRY=rajiup\n"
        "docker build -t $REGISTRY/cp-whisperx-app-asr:cuda -f docker/asr/Dockerfile .\n"
        "sed 's/base-ml:cuda/base:cpu/' docker/asr/Dockerfile > /tmp/asr.cpu.Dockerfile\n"
        "docker build -t $REGISTRY/cp-whisperx-app-asr:cpu -f /tmp/asr.cpu.Dockerfile .\n"
    )
    fallback = images(discover_workspace(pipeline))["asr:cuda"].fallback
    assert fallback is not None and fallback.parent == "base:cpu"


def test_problem_from_matching_no_image(pipeline: Path) -> None:
    (pipeline / "docker/vad").mkdir()
    (pipeline / "docker/vad/Dockerfile").write_text(
        "ARG REGISTRY=rajiup\nFROM ${REGISTRY}/cp-whisperx-app-missing:cuda\n"
    )
    found = discover_workspace(pipeline)
    [problem] = found.problems
    assert problem.startswith("docker/vad/Dockerfile:2: FROM rajiup/cp-whisperx-app-missing")
    assert "no Dockerfile here builds it" in problem
    vad = next(i for i in found.images if i.dockerfile == "docker/vad/Dockerfile")
    assert vad.parent is None and vad.base_image == "rajiup/cp-whisperx-app-missing:cuda"
    tomllib.loads(found.config_toml)


def test_problem_two_candidates(pipeline: Path) -> None:
    shutil.rmtree(pipeline / "scripts")
    (pipeline / "docker/ml").mkdir()
    shutil.copyfile(
        pipeline / "docker/base-ml/Dockerfile", pipeline / "docker/ml/base-ml.Dockerfile"
    )
    found = discover_workspace(pipeline)
    assert any(
        "could be built by docker/base-ml/Dockerfile or docker/ml/base-ml.Dockerfile" in p
        for p in found.problems
    )
    assert all(image.parent != "base-ml:cuda" for image in found.images)


def test_problem_arg_without_default(pipeline: Path) -> None:
    (pipeline / "docker/tmdb/Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nRUN pip install --no-cache-dir requests==2.31.0\n"
    )
    found = discover_workspace(pipeline)
    assert any(
        p.startswith("docker/tmdb/Dockerfile:2:") and "ARG BASE with no default" in p
        for p in found.problems
    )
    tomllib.loads(found.config_toml)


def test_problem_two_versions_files(pipeline: Path) -> None:
    (pipeline / "versions.txt").write_text("torch==2.1.0\n")
    found = discover_workspace(pipeline)
    assert any("2 candidate versions files" in p for p in found.problems)
    assert tomllib.loads(found.config_toml)["tool"]["lockaudit"]["versions"] == ""


def test_compose_file_names_images(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "worker").mkdir()
    (tmp_path / "api/Dockerfile").write_text("FROM python:3.12-slim\n")
    (tmp_path / "worker/Dockerfile").write_text("FROM acme/shop-api:1.0\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  api:\n"
        "    build:\n"
        "      context: .\n"
        "      dockerfile: api/Dockerfile\n"
        '    image: "${REGISTRY:-acme}/shop-api:1.0"\n'
        "  worker:\n"
        "    build: ./worker\n"
        "    image: acme/shop-worker:1.0\n"
    )
    found = discover_workspace(tmp_path)
    assert found.problems == ()
    by_key = images(found)
    assert set(by_key) == {"api:1.0", "worker:1.0"}
    assert by_key["worker:1.0"].parent == "api:1.0"
    assert by_key["worker:1.0"].context == "worker"
    config = tomllib.loads(found.config_toml)["tool"]["lockaudit"]
    assert (config["registry"], config["image-prefix"]) == ("acme", "shop-")


def test_makefile_build_lines(tmp_path: Path) -> None:
    for name in ("base", "app"):
        (tmp_path / name).mkdir()
    (tmp_path / "base/Dockerfile").write_text("FROM debian:bookworm\n")
    (tmp_path / "app/Dockerfile").write_text("FROM corp/x-core:stable\n")
    (tmp_path / "Makefile").write_text(
        "REG ?= corp\n\nall:\n"
        "\tdocker build -t $(REG)/x-core:stable -f base/Dockerfile .\n"
        "\tdocker build -t $(REG)/x-app:stable -f app/Dockerfile .\n"
    )
    by_key = images(discover_workspace(tmp_path))
    assert by_key["app:stable"].parent == "core:stable"
    assert by_key["core:stable"].dockerfile == "base/Dockerfile"


def test_skips_vendored_and_virtualenv_dirs(pipeline: Path) -> None:
    for junk in ("node_modules/pkg", ".venv/lib", ".git/x", "tests/data/repo"):
        (pipeline / junk).mkdir(parents=True)
        (pipeline / junk / "Dockerfile").write_text("FROM scratch\n")
    keys = {image.dockerfile for image in discover_workspace(pipeline).images}
    assert not any(k.startswith(("node_modules", ".venv", ".git", "tests")) for k in keys)


# -- write_config -------------------------------------------------------------------------------


def test_write_creates_pyproject(pipeline: Path) -> None:
    found = discover_workspace(pipeline)
    path = write_config(pipeline, found)
    assert path.read_text() == found.config_toml


def test_write_keeps_the_rest_of_pyproject(pipeline: Path) -> None:
    before = '[project]\nname = "speech"\n\n[tool.ruff]\nline-length = 100\n'
    (pipeline / "pyproject.toml").write_text(before)
    write_config(pipeline, discover_workspace(pipeline))
    data = tomllib.loads((pipeline / "pyproject.toml").read_text())
    assert data["project"] == {"name": "speech"}
    assert data["tool"]["ruff"] == {"line-length": 100}
    assert data["tool"]["lockaudit"]["registry"] == "rajiup"


def test_write_refuses_to_overwrite_without_force(pipeline: Path) -> None:
    text = (
        '[project]\nname = "speech"\n\n[tool.lockaudit]\nregistry = "old"\n\n'
        "[tool.ruff]\nx = 1\n"
    )
    (pipeline / "pyproject.toml").write_text(text)
    found = discover_workspace(pipeline)
    with pytest.raises(InputError) as info:
        write_config(pipeline, found)
    assert str(info.value.location) == "pyproject.toml:4"
    assert (pipeline / "pyproject.toml").read_text() == text  # untouched
    write_config(pipeline, found, force=True)
    data = tomllib.loads((pipeline / "pyproject.toml").read_text())
    assert data["tool"]["lockaudit"]["registry"] == "rajiup"
    assert data["tool"]["ruff"] == {"x": 1}
    assert data["project"] == {"name": "speech"}


def test_write_refuses_an_inline_section_it_cannot_replace(pipeline: Path) -> None:
    text = '[tool]\nlockaudit = { registry = "old" }\n'
    (pipeline / "pyproject.toml").write_text(text)
    with pytest.raises(InputError, match="cannot replace"):
        write_config(pipeline, discover_workspace(pipeline), force=True)
    assert (pipeline / "pyproject.toml").read_text() == text


def test_windows_build_script(pipeline: Path) -> None:
    (pipeline / "scripts/build-all-images.sh").unlink()
    (pipeline / "scripts/build-all-images.bat").write_text(
        "@echo off\r\nset REGISTRY=rajiup\r\n"
        "docker build -t %REGISTRY%/cp-whisperx-app-base:cpu ^\r\n"
        "    -f docker\\base\\Dockerfile .\r\n"
        "docker build -t %REGISTRY%/cp-whisperx-app-demux:latest -f docker\\demux\\Dockerfile .\r\n"
    )
    by_key = images(discover_workspace(pipeline))
    assert by_key["base:cpu"].dockerfile == "docker/base/Dockerfile"
    assert by_key["demux:latest"].parent == "base:cpu"


def test_build_lines_it_cannot_read_are_ignored(pipeline: Path) -> None:
    (pipeline / "scripts/odd.sh").write_text(
        'docker build -t "unterminated -f docker/base/Dockerfile .\n'
        "docker build\n"
        "docker build -f - .\n"
        'build_one() { docker build -t "$1" -f "$2" .; }\n'
        "sed -i 's/a/b/'\n"
    )
    found = discover_workspace(pipeline)
    assert found.problems == ()
    assert images(found)["base:cpu"].dockerfile == "docker/base/Dockerfile"


def test_target_facts_from_base_tags(pipeline: Path) -> None:
    (pipeline / "docker/base/Dockerfile").write_text(
        "FROM python:3.11.14-slim-bookworm\n"
        "COPY docker/requirements-common.txt /tmp/r.txt\nRUN pip install -r /tmp/r.txt\n"
    )
    found = discover_workspace(pipeline)
    config = tomllib.loads(found.config_toml)["tool"]["lockaudit"]
    assert config["target"] == {"cuda": "12.1", "glibc": "2.35", "python": "3.11.14"}
    by_name = {(i["name"], i["tag"]): i for i in config["images"]}
    assert by_name[("base", "cpu")]["target"] == {"glibc": "2.36"}
    assert by_name[("demux", "cpu")]["target"] == {"glibc": "2.36"}  # inherited from its base
    assert "target" not in by_name[("asr", "cuda")]


def test_requirement_files_are_lock_inputs_when_the_dockerfile_installs_a_lock(
    pipeline: Path,
) -> None:
    (pipeline / "docker/asr/Dockerfile").write_text(
        "ARG REGISTRY=rajiup\nFROM ${REGISTRY}/cp-whisperx-app-base-ml:cuda\n"
        "COPY locks/asr-cuda.layer.txt /tmp/layer.txt\n"
        "RUN pip install --no-deps --require-hashes -r /tmp/layer.txt\n"
    )
    asr = images(discover_workspace(pipeline))["asr:cuda"]
    assert asr.requirements == ("docker/asr/requirements.txt",)


def test_fallback_from_build_args(pipeline: Path) -> None:
    (pipeline / "docker/asr/Dockerfile").write_text(
        "ARG REGISTRY=rajiup\nARG PARENT_IMAGE=cp-whisperx-app-base-ml:cuda\n"
        "FROM ${REGISTRY}/${PARENT_IMAGE}\nRUN pip install --no-cache-dir whisperx==3.7.2\n"
    )
    (pipeline / "scripts/build-all-images.sh").write_text(
        "REGISTRY=rajiup\n"
        "docker build -t $REGISTRY/cp-whisperx-app-asr:cpu -f docker/asr/Dockerfile \\\n"
        "    --build-arg PARENT_IMAGE=cp-whisperx-app-base:cpu --build-arg UNUSED=1 .\n"
        "docker build -t $REGISTRY/cp-whisperx-app-asr:cuda -f docker/asr/Dockerfile .\n"
    )
    found = discover_workspace(pipeline)
    assert found.problems == ()
    asr = images(found)["asr:cuda"]  # the tag built without args is the file's own
    assert asr.fallback is not None
    assert (asr.fallback.tag, asr.fallback.parent) == ("cpu", "base:cpu")
    assert asr.fallback.build_args == (("PARENT_IMAGE", "cp-whisperx-app-base:cpu"),)


# -- compose files read as YAML -----------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


COMPOSE_REPO = {
    # a shape seen in public ML service repos: a GPU base built by one service, the API and a
    # worker (extends) built from a Dockerfile kept under docker/ with the code as context
    "base/Dockerfile": "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"
    "COPY requirements-base.txt /tmp/\nRUN pip install -r /tmp/requirements-base.txt\n",
    "base/requirements-base.txt": "numpy==1.26.4\n",
    "backend/docker/Dockerfile": "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n"
    "WORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
    "backend/requirements.txt": "fastapi==0.110.0\n",
    "backend/docker/requirements.txt": "decoy==1.0\n",
    ".env": "TAG=2.3\n",
    "docker-compose.yml": """\
x-gpu: &gpu
  deploy:
    resources:
      reservations:
        devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]
services:
  base:
    build: ./base
    image: "${REGISTRY:-ghcr.io/acme}/ml-base:${TAG}"
    profiles: ["build-only"]
  api:
    <<: *gpu
    build:
      context: ./backend
      dockerfile: docker/Dockerfile
      args:
        BASE_IMAGE: ${REGISTRY:-ghcr.io/acme}/ml-base:${TAG}
      target: runtime
    image: "${REGISTRY:-ghcr.io/acme}/ml-api:${TAG:?set TAG}"
  worker:
    extends:
      service: api
    image: ${WORKER_IMAGE}
    command: celery worker
  redis:
    image: redis:7
""",
}


def test_compose_contexts_args_extends_and_env(tmp_path: Path) -> None:
    _write(tmp_path, COMPOSE_REPO)
    found = discover_workspace(tmp_path)
    by_key = images(found)
    assert set(by_key) == {"base:2.3", "api:2.3"}  # the worker has no name of its own
    api = by_key["api:2.3"]
    assert api.parent == "base:2.3"
    assert api.context == "backend"
    assert api.requirements == ("backend/requirements.txt",)  # from the context, not docker/
    assert api.edge == "docker-compose.yml:17 --build-arg BASE_IMAGE"
    assert api.build_args == (("BASE_IMAGE", "ghcr.io/acme/ml-base:2.3"),)
    assert by_key["base:2.3"].base_image == "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
    assert by_key["base:2.3"].requirements == ("base/requirements-base.txt",)
    text = found.config_toml
    config = tomllib.loads(text)["tool"]["lockaudit"]
    assert (config["registry"], config["image-prefix"]) == ("ghcr.io/acme", "ml-")
    assert "# parent from docker-compose.yml:17 --build-arg BASE_IMAGE" in text
    assert "$" not in text and "\x00" not in text


def test_compose_service_without_static_image_is_named_after_the_service(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {
        "svc/Dockerfile": "FROM python:3.12-slim\n",
        "compose.yaml": "services:\n  inference-api:\n    build: {context: svc}\n"
        "    image: ${IMAGE}\n",
    })
    [image] = discover_workspace(tmp_path).images
    assert (image.name, image.context) == ("inference-api", "svc")
    assert image.evidence[0] == "named after compose service inference-api at compose.yaml:2"


def test_compose_interpolation() -> None:
    from lockaudit.workspace.discover._compose import interpolate

    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}", env) == "v/d/d/"
    assert interpolate("$$HOME ${SET:+alt}${UNSET:+alt}", env) == "$HOME alt"
    assert "\x00" in interpolate("${UNSET}", env) and "\x00" in interpolate("$UNSET", env)
    assert "\x00" in interpolate("${UNSET:?needed}", env)


def test_compose_file_that_is_not_yaml_builds_nothing(tmp_path: Path) -> None:
    _write(tmp_path, {
        "a/Dockerfile": "FROM python:3.12-slim\n",
        "docker-compose.override.yml": "services:\n  a: [unclosed\n",
    })
    found = discover_workspace(tmp_path)
    assert [i.name for i in found.images] == ["a"]


# -- scripts: only static values become names ---------------------------------------------------


def test_script_values_only_a_run_knows_are_never_names(tmp_path: Path) -> None:
    _write(tmp_path, {
        "images/base/Dockerfile": "FROM python:3.11-slim\n",
        "images/app/Dockerfile": "FROM corp/base:1.0\n",
        "images/tool/Dockerfile": "FROM python:3.11-slim\n",
        "build.sh": "VERSION=$(git describe --tags)\n"
        "docker build -t corp/base:1.0 images/base\n"
        "docker build -t corp/app:$VERSION -t \"corp/app-$(date +%s)\" images/app\n"
        'for FILE in $(ls images); do\n'
        '  docker build -t "corp/$(echo "$FILE" | sed s/x/y/)" -f images/tool/Dockerfile .\n'
        "done\n"
        "docker build -t ${UNSET_REGISTRY}/tool:1 -f images/tool/Dockerfile .\n",
        "Makefile": "TAG := $(shell git rev-parse --short HEAD)\nREG ?= corp\nIMG = $(REG)/app\n"
        "app:\n\tdocker build -t $(IMG):$(TAG) images/app\n",
    })
    found = discover_workspace(tmp_path)
    by_key = images(found)
    assert set(by_key) == {"base:1.0", "app:cpu", "tool:cpu"}
    assert by_key["app:cpu"].parent == "base:1.0"
    assert "$" not in found.config_toml and "\x00" not in found.config_toml


def test_make_variables_expand_where_static(tmp_path: Path) -> None:
    _write(tmp_path, {
        "base/Dockerfile": "FROM python:3.11-slim\n",
        "app/Dockerfile": "FROM corp/x-core:stable\n",
        "Makefile": "REG ?= corp\nNAME := $(REG)/x\nTAG = stable\n\nall:\n"
        "\tdocker build -t $(NAME)-core:$(TAG) \\\n\t  -f base/Dockerfile .\n",
    })
    found = discover_workspace(tmp_path)
    by_key = images(found)
    assert by_key["x-core:stable"].dockerfile == "base/Dockerfile"
    assert by_key["app:cpu"].parent == "x-core:stable"
    assert by_key["x-core:stable"].evidence == ("tagged x-core:stable by Makefile:6",)


# -- CI workflows ---------------------------------------------------------------------------------

WORKFLOW_REPO = {
    # the shape of ML image families built by a GitHub Actions matrix: a torch base per mode,
    # app images on top whose parent only the workflow names (FROM ${BASE_IMAGE})
    "docker/torch/Dockerfile": "ARG BASE=python:3.11-slim\nFROM ${BASE}\n"
    "ARG TORCH_VARIANT=cpu\nRUN pip install torch==2.3.1\n",
    "apps/asr/Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
    "COPY apps/asr/requirements.txt /tmp/\nRUN pip install -r /tmp/requirements.txt\n",
    "apps/asr/requirements.txt": "faster-whisper==1.0.3\n",
    ".github/workflows/images.yml": """\
name: images
on:
  push: {branches: [main]}
  workflow_dispatch:
    inputs:
      registry: {default: ghcr.io/acme}
env:
  REGISTRY: ${{ inputs.registry }}
jobs:
  torch:
    strategy:
      matrix:
        mode: [cpu, cuda]
        python: ["3.11"]
        include:
          - mode: cpu
            base: python:3.11-slim
          - mode: cuda
            base: nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
        with:
          context: .
          file: docker/torch/Dockerfile
          tags: |
            ${{ env.REGISTRY }}/torch/${{ matrix.mode }}:latest
            ${{ env.REGISTRY }}/torch/${{ matrix.mode }}:${{ github.sha }}
          build-args: |
            BASE=${{ matrix.base }}
            TORCH_VARIANT=${{ matrix.mode }}
            STAMP=${{ github.run_id }}
  apps:
    needs: torch
    strategy:
      matrix:
        mode: [cpu, cuda]
    runs-on: ubuntu-latest
    steps:
      - name: build
        run: |
          TAG=$(git rev-parse --short HEAD)
          docker buildx build \\
            -f apps/asr/Dockerfile \\
            --build-arg BASE_IMAGE=${REGISTRY}/torch/${{ matrix.mode }}:latest \\
            -t "$REGISTRY/asr:${{ matrix.mode }}" -t "$REGISTRY/asr:$TAG" .
""",
}


def test_github_matrix_links_children_to_the_parents_it_builds(tmp_path: Path) -> None:
    _write(tmp_path, WORKFLOW_REPO)
    found = discover_workspace(tmp_path)
    assert found.problems == ()
    by_key = images(found)
    assert set(by_key) == {"torch/cpu:latest", "torch/cuda:latest", "asr:cuda"}
    cuda, cpu = by_key["torch/cuda:latest"], by_key["torch/cpu:latest"]
    assert cuda.base_image == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert cuda.variant is Variant.CUDA and cpu.variant is Variant.CPU
    assert cpu.base_image == "python:3.11-slim"
    assert cuda.edge == ".github/workflows/images.yml:31 --build-arg BASE"
    assert cuda.build_args == (
        ("BASE", "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"), ("TORCH_VARIANT", "cuda"),
    )
    asr = by_key["asr:cuda"]
    assert asr.parent == "torch/cuda:latest"
    assert asr.edge == ".github/workflows/images.yml:46 --build-arg BASE_IMAGE"
    assert asr.requirements == ("apps/asr/requirements.txt",)
    assert asr.fallback is not None
    assert (asr.fallback.tag, asr.fallback.parent) == ("cpu", "torch/cpu:latest")
    assert asr.fallback.build_args == (("BASE_IMAGE", "ghcr.io/acme/torch/cpu:latest"),)
    config = tomllib.loads(found.config_toml)["tool"]["lockaudit"]
    assert config["registry"] == "ghcr.io/acme"
    assert "{{" not in found.config_toml and "\x00" not in found.config_toml
    write_config(tmp_path, found)
    workspace = load_workspace(tmp_path)
    assert workspace.image("asr:cpu").parent == "torch/cpu:latest"


def test_github_matrix_expansion() -> None:
    import yaml

    from lockaudit.workspace.discover._ci import github_matrix

    node = yaml.compose(
        "os: [a, b]\npy: ['3.10', '3.11']\nexclude: [{os: b, py: '3.10'}]\n"
        "include: [{os: a, extra: x}, {os: c, py: '3.12'}]\n"
    )
    assert github_matrix(node) == [
        {"os": "a", "py": "3.10", "extra": "x"}, {"os": "a", "py": "3.11", "extra": "x"},
        {"os": "b", "py": "3.11"}, {"os": "c", "py": "3.12"},
    ]
    assert github_matrix(yaml.compose("${{ fromJSON(needs.m.outputs.matrix) }}")) is None


def test_gitlab_ci_script_and_parallel_matrix(tmp_path: Path) -> None:
    _write(tmp_path, {
        "images/base/Dockerfile": "FROM python:3.12-slim\n",
        "images/worker/Dockerfile": "ARG BASE=registry.example/ml/base:py3.12\nFROM ${BASE}\n",
        ".gitlab-ci.yml": """\
variables:
  REG: registry.example/ml
.docker:
  image: docker:27
  before_script: [docker info]
build-base:
  extends: .docker
  script:
    - docker build -t $REG/base:py$PY -f images/base/Dockerfile --build-arg PY=$PY .
  parallel:
    matrix:
      - PY: ["3.12"]
build-worker:
  extends: .docker
  script:
    - >
      docker build -t $REG/worker:$CI_COMMIT_SHORT_SHA -t $REG/worker:latest
      images/worker
""",
    })
    found = discover_workspace(tmp_path)
    by_key = images(found)
    assert set(by_key) == {"base:py3.12", "worker:latest"}
    assert by_key["worker:latest"].parent == "base:py3.12"
    assert by_key["worker:latest"].context == "images/worker"
    assert by_key["base:py3.12"].evidence == ("tagged base:py3.12 by .gitlab-ci.yml:9",)


# -- bake files -----------------------------------------------------------------------------------

BAKE_REPO = {
    # a chain bound by named contexts, as bake-driven scientific stacks do it
    ".docker/core-base/Dockerfile": "ARG PY=3.10\nFROM mambaorg/micromamba:1.5 AS runtime\n",
    ".docker/core-services/Dockerfile": "FROM core-base\nCOPY requirements.txt /tmp/\n"
    "RUN pip install -r /tmp/requirements.txt\n",
    ".docker/core-services/requirements.txt": "psycopg==3.1.18\n",
    ".docker/docker-bake.hcl": """\
variable "ORGANIZATION" {
  default = "acme"
}
variable "VERSION" {
}
target "core-base" {
  tags = ["${ORGANIZATION}/core-base:${VERSION}", "${ORGANIZATION}/core-base:edge"]
  context = "core-base"
  args = {
    PY = "3.11"
  }
}
target "core-services" {
  tags = ["${ORGANIZATION}/core-services:edge", "x-${timestamp()}"]
  context = "core-services"
  contexts = {
    core-base = "target:core-base"
  }
}
""",
}


def test_bake_targets_and_named_contexts(tmp_path: Path) -> None:
    _write(tmp_path, BAKE_REPO)
    found = discover_workspace(tmp_path)
    by_key = images(found)
    assert set(by_key) == {"core-base:edge", "core-services:edge"}
    services = by_key["core-services:edge"]
    assert services.parent == "core-base:edge"
    assert services.edge == ".docker/docker-bake.hcl:13 context core-base"
    assert services.context == ".docker/core-services"
    assert services.requirements == (".docker/core-services/requirements.txt",)
    base = by_key["core-base:edge"]
    assert base.build_args == (("PY", "3.11"),)
    assert base.base_image == "mambaorg/micromamba:1.5"
    assert "timestamp" not in found.config_toml


def test_bake_json(tmp_path: Path) -> None:
    _write(tmp_path, {
        "base/Dockerfile": "FROM python:3.12-slim\n",
        "app/Dockerfile": "ARG BASE=acme/base:1\nFROM ${BASE}\n",
        "docker-bake.json": '{"variable": {"TAG": {"default": "1"}}, "target": {'
        '"base": {"context": "base", "tags": ["acme/base:${TAG}"]},'
        '"app": {"context": "app", "tags": ["acme/app:${TAG}"], "target": "runtime"}}}',
    })
    by_key = images(discover_workspace(tmp_path))
    assert by_key["app:1"].parent == "base:1"
    assert by_key["app:1"].stage == "runtime"


# -- Makefiles that include variables and cd before building ------------------------------------


def test_makefile_includes_engine_and_cd(tmp_path: Path) -> None:
    _write(tmp_path, {
        "python/sklearn.Dockerfile": "ARG BASE_IMAGE=python:3.11-slim-bookworm\n"
        "FROM ${BASE_IMAGE}\nCOPY sklearnserver/requirements.txt /tmp/\n"
        "RUN pip install -r /tmp/requirements.txt\n",
        "python/sklearnserver/requirements.txt": "scikit-learn==1.5.0\n",
        "images.env": "TAG ?= latest\nSKLEARN_IMG ?= sklearnserver\n",
        "Makefile": "include images.env\nENGINE ?= docker\n\n"
        "docker-build-sklearn:\n"
        "\tcd python && ${ENGINE} buildx build ${ARCH} -t ${KO_DOCKER_REPO}/${SKLEARN_IMG}:$(TAG)"
        " -f sklearn.Dockerfile .\n",
    })
    [image] = discover_workspace(tmp_path).images
    assert (image.dockerfile, image.context) == ("python/sklearn.Dockerfile", "python")
    assert image.requirements == ("python/sklearnserver/requirements.txt",)
    assert image.evidence[0] == "named after docker build at Makefile:5"


# -- one repository for many images, the tag telling which ---------------------------------------


def test_images_sharing_one_repository_are_named_after_their_service(tmp_path: Path) -> None:
    _write(tmp_path, {
        "src/ad/Dockerfile": "FROM eclipse-temurin:21-jre\n",
        "src/cart/src/Dockerfile": "FROM mcr.microsoft.com/dotnet/runtime-deps:8.0\n",
        ".env": "IMAGE_NAME=ghcr.io/acme/demo\nDEMO_VERSION=latest\n"
        "CART_DOCKERFILE=./src/cart/src/Dockerfile\n",
        "compose.yaml": "services:\n"
        "  ad:\n    image: ${IMAGE_NAME}:${DEMO_VERSION}-ad\n"
        "    build: {context: ./, dockerfile: ./src/ad/Dockerfile}\n"
        "  cart:\n    image: ${IMAGE_NAME}:${DEMO_VERSION}-cart\n"
        "    build: {context: ./, dockerfile: \"${CART_DOCKERFILE}\"}\n",
    })
    found = discover_workspace(tmp_path)
    assert {(i.name, i.tag, i.dockerfile) for i in found.images} == {
        ("ad", "latest", "src/ad/Dockerfile"), ("cart", "latest", "src/cart/src/Dockerfile"),
    }


# -- names ----------------------------------------------------------------------------------------


def test_same_folder_name_in_many_places_gets_names_by_path(tmp_path: Path) -> None:
    files = {"agents/base/Dockerfile": "FROM python:3.12-slim\n"}
    for agent in ("smarthome", "weather", "calendar"):
        files[f"agents/{agent}/api/Dockerfile"] = "FROM python:3.12-slim\n"
        files[f"agents/{agent}/worker/Dockerfile"] = "FROM python:3.12-slim\n"
    files["tools/Dockerfile.Lint_Check"] = "FROM python:3.12-slim\n"
    _write(tmp_path, files)
    found = discover_workspace(tmp_path)
    names = {image.dockerfile: image.name for image in found.images}
    assert names["agents/smarthome/api/Dockerfile"] == "smarthome/api"
    assert names["agents/weather/worker/Dockerfile"] == "weather/worker"
    assert names["agents/base/Dockerfile"] == "base"
    assert names["tools/Dockerfile.Lint_Check"] == "lint_check"
    assert found.problems == ()
    write_config(tmp_path, found)
    assert len({image.key for image in load_workspace(tmp_path).images}) == 8


def test_a_tag_two_sources_give_to_two_files_still_loads(tmp_path: Path) -> None:
    _write(tmp_path, {
        "a/Dockerfile": "FROM python:3.12-slim\n",
        "b/Dockerfile": "FROM python:3.12-slim\n",
        "build.sh": "docker build -t acme/app:1 a\ndocker build -t acme/app:1 b\n",
    })
    found = discover_workspace(tmp_path)
    assert any("is built from both a/Dockerfile and b/Dockerfile" in p for p in found.problems)
    write_config(tmp_path, found)
    assert sorted(i.key for i in load_workspace(tmp_path).images) == ["a:1", "b:1"]


def test_requirement_files_followed_from_pip_back_through_copy(tmp_path: Path) -> None:
    _write(tmp_path, {
        "backend/Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\n"
        "COPY ./requirements/default.txt /tmp/requirements.txt\n"
        "COPY requirements/ee.txt ./extra/\n"
        "COPY ./onyx /app/onyx\n"
        "RUN pip install -r /tmp/requirements.txt -r extra/ee.txt -c onyx/pins.txt\n",
        "backend/requirements/default.txt": "fastapi==0.110.0\n",
        "backend/requirements/ee.txt": "stripe==8.0.0\n",
        "backend/onyx/pins.txt": "httpx==0.27.0\n",
        "backend/onyx/sandbox/requirements.txt": "not-this==1\n",
        "deploy/docker-compose.yml": "services:\n  api_server:\n"
        "    build: {context: ../backend}\n    image: onyx/backend:latest\n",
    })
    [image] = discover_workspace(tmp_path).images
    assert image.context == "backend"
    assert image.requirements == (
        "backend/requirements/default.txt", "backend/requirements/ee.txt", "backend/onyx/pins.txt",
    )


def test_reusable_workflow_inputs_ternaries_and_variant_subfolders(tmp_path: Path) -> None:
    _write(tmp_path, {
        # a chain built by a reusable workflow that each calling job gives an image and a variant
        "images/base-notebook/Dockerfile": "FROM ubuntu:24.04\n",
        "images/pytorch-notebook/Dockerfile": "ARG REGISTRY=quay.io\nARG OWNER=jupyter\n"
        "FROM $REGISTRY/$OWNER/base-notebook\n",
        "images/pytorch-notebook/cuda12/Dockerfile": "FROM nvidia/cuda:12.8.1-base-ubuntu24.04\n",
        ".github/workflows/build-one.yml": """\
on:
  workflow_call:
    inputs:
      image: {type: string, required: true}
      variant: {type: string, default: default}
env:
  REGISTRY: quay.io
  OWNER: ${{ github.repository_owner }}
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - run: |
          docker build \\
            --tag ${{ env.REGISTRY }}/${{ env.OWNER }}/${{ inputs.image }} \\
            images/${{ inputs.image }}/${{ inputs.variant != 'default' && inputs.variant || '.' }}/
""",
        ".github/workflows/docker.yml": """\
on: push
jobs:
  base:
    uses: ./.github/workflows/build-one.yml
    with: {image: base-notebook}
  torch:
    strategy:
      matrix:
        variant: [default, cuda12]
    uses: ./.github/workflows/build-one.yml
    with:
      image: pytorch-notebook
      variant: ${{ matrix.variant }}
""",
    })
    found = discover_workspace(tmp_path)
    by_file = {image.dockerfile: image for image in found.images}
    torch = by_file["images/pytorch-notebook/Dockerfile"]
    cuda = by_file["images/pytorch-notebook/cuda12/Dockerfile"]
    assert (torch.name, cuda.name, cuda.tag) == ("pytorch-notebook", "pytorch-notebook", "cuda12")
    assert cuda.context == "images/pytorch-notebook/cuda12"
    assert by_file["images/base-notebook/Dockerfile"].context == "images/base-notebook"
    assert torch.parent == by_file["images/base-notebook/Dockerfile"].key
    assert cuda.variant is Variant.CUDA


def test_github_expressions() -> None:
    from lockaudit.workspace.discover._ci import _Scope

    scope = _Scope({"v": "cuda12"}, {"E": "x"}, {"flag": "false"})
    assert scope.value("matrix.v != 'default' && matrix.v || '.'") == "cuda12"
    assert scope.value("inputs.flag && 'yes' || 'no'") == "no"
    assert scope.value("env.E == 'x'") == "true"
    assert "\x00" in scope.value("github.sha")
    assert "\x00" in scope.value("format('{0}', matrix.v)")


def test_hostile_yaml_builds_nothing_and_never_crashes(tmp_path: Path) -> None:
    lol = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
    )
    _write(tmp_path, {
        "a/Dockerfile": "FROM python:3.12-slim\n",
        "compose.yaml": lol + "services:\n  x: &x\n    <<: *x\n    build: a\n    profiles: *f\n"
        "    extends: x\n",
        ".github/workflows/w.yml": "jobs: &j\n  b:\n    <<: *j\n    strategy: {matrix: "
        "{x: [1,2,3,4,5,6,7], y: [1,2,3,4,5,6,7], z: [1,2,3,4,5,6,7]}}\n"
        "    steps: [{run: 'docker build -t acme/a:${{ matrix.x }} a'}]\n",
        ".gitlab-ci.yml": "!!python/object/apply:os.system [echo]\n",
        "docker-bake.hcl": 'target "t" {\n  tags = [\n',
    })
    found = discover_workspace(tmp_path)
    [image] = found.images  # the 343-cell matrix is too large to be known: no tag from it
    assert (image.name, image.context) == ("x", "a")


def test_stages_built_by_target_are_images_of_their_own(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Dockerfile": "ARG CUDA_VER=notset\nFROM nvidia/cuda:${CUDA_VER}-base-ubuntu24.04 AS base\n"
        "COPY condarc /opt/conda/.condarc\nFROM base AS notebooks\nRUN pip install jupyterlab\n"
        "FROM base AS dev\n",
        ".github/workflows/build.yml": """\
jobs:
  build:
    steps:
      - uses: docker/build-push-action@v6
        with:
          context: context
          file: Dockerfile
          target: base
          build-args: ${{ steps.args.outputs.ARGS }}
          tags: ${{ inputs.BASE_TAG }}
      - uses: docker/build-push-action@v6
        with: {context: context, file: Dockerfile, target: notebooks, tags: "${{ inputs.NB }}"}
""",
    })
    by_name = {image.name: image for image in discover_workspace(tmp_path).images}
    assert set(by_name) == {"base", "notebooks"}
    assert (by_name["notebooks"].stage, by_name["notebooks"].context) == ("notebooks", "context")
    assert by_name["notebooks"].parent == by_name["base"].key
    assert by_name["notebooks"].edge == "Dockerfile:4 FROM base"
    # the ARG default "notset" is a placeholder: the base stays as written, never pasted
    assert by_name["base"].base_image == "nvidia/cuda:${CUDA_VER}-base-ubuntu24.04"


def test_dockerfiles_nothing_builds_under_example_and_test_folders_are_excluded(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {
        "images/app/Dockerfile": "FROM python:3.12-slim\n",
        "images/app/cuda12/Dockerfile": "FROM nvidia/cuda:12.8.1-base-ubuntu24.04\n",
        "examples/deploy/Dockerfile": "FROM acme/app:latest\n",
        "docs/recipes/pip.dockerfile": "FROM acme/app:latest\nRUN pip install x\n",
        "tests/fixture.Dockerfile": "FROM acme/app:latest\n",
        # built by a source: an image, even under tests/
        "tests/mock/Dockerfile": "FROM python:3.12-slim\n",
        "build.sh": "docker build -t acme/app:latest images/app\n"
        "docker build -t acme/app:cuda12 images/app/cuda12\n"
        "docker build -t acme/mock tests/mock\n",
    })
    found = discover_workspace(tmp_path)
    by_file = {image.dockerfile: image for image in found.images}
    assert set(by_file) == {"images/app/Dockerfile", "images/app/cuda12/Dockerfile",
                            "tests/mock/Dockerfile"}
    assert by_file["images/app/cuda12/Dockerfile"].variant is Variant.CUDA
    excludes = tomllib.loads(found.config_toml)["tool"]["lockaudit"]["exclude"]
    assert {e["path"] for e in excludes} == {
        "examples/deploy/Dockerfile", "docs/recipes/pip.dockerfile", "tests/fixture.Dockerfile"
    }
    assert all("no build file of the repository builds it" in e["reason"] for e in excludes)


def test_without_any_build_source_nothing_is_excluded_by_folder(tmp_path: Path) -> None:
    _write(tmp_path, {
        "app/Dockerfile": "FROM python:3.12-slim\n",
        "examples/demo/Dockerfile": "FROM python:3.12-slim\n",
    })
    found = discover_workspace(tmp_path)
    assert {image.dockerfile for image in found.images} == {
        "app/Dockerfile", "examples/demo/Dockerfile"
    }


BUILD_SCRIPT = """\
#!/bin/bash
TAG="acme/app:latest-cpu"
BASE="ubuntu:22.04"
TYPE="production"
USE_CUSTOM=false
for arg in "$@"
do
    case $arg in
        -h|--help)
          echo "usage"
          exit 0
          ;;
        -g|--gpu)
          TAG="acme/app:latest-gpu"
          BASE="nvidia/cuda:12.1.1-base-ubuntu22.04"
          shift
          ;;
        -bt|--buildtype)
          TYPE="$2"
          shift; shift
          ;;
        -t|--tag)
          CUSTOM="$2"
          USE_CUSTOM=true
          shift; shift
          ;;
    esac
done
if [ "${TYPE}" == "dev" ] && ! $USE_CUSTOM ;
then
  TAG="acme/app:dev"
fi
if [ "$USE_CUSTOM" = true ]; then
  TAG=${CUSTOM}
fi
if [ "${TYPE}" == "production" ]; then
  DOCKER_BUILDKIT=1 docker build --file Dockerfile --build-arg BASE="${BASE}" -t "${TAG}" \\
    --target production ../
elif [ "${TYPE}" == "dev" ]; then
  docker build --file Dockerfile --build-arg BASE="${BASE}" -t "${TAG}" --target dev ../
else
  docker build --file Dockerfile.other -t "${TAG}" ../
fi
"""


def test_build_script_flags_and_branches_give_one_build_per_option(tmp_path: Path) -> None:
    from lockaudit.workspace.discover._scan import scan_script

    _write(tmp_path, {
        "docker/Dockerfile": "ARG BASE=ubuntu:rolling\nFROM ${BASE} AS production\n"
        "FROM production AS dev\n",
        "docker/Dockerfile.other": "FROM python:3.12-slim\n",
        "docker/build.sh": BUILD_SCRIPT,
    })
    facts = scan_script(tmp_path, "docker/build.sh")
    builds = {(f.ref.text if f.ref else None, f.target, dict(f.build_args).get("BASE"))
              for f in facts}
    # run from its own folder (the Dockerfile is only there), the context ../ is the root;
    # no options, -g, and -bt with each value the script compares TYPE with
    assert builds == {
        ("acme/app:latest-cpu", "production", "ubuntu:22.04"),
        ("acme/app:latest-gpu", "production", "nvidia/cuda:12.1.1-base-ubuntu22.04"),
        ("acme/app:dev", "dev", "ubuntu:22.04"),
    }
    assert {(f.dockerfile, f.context) for f in facts} == {("docker/Dockerfile", ".")}
    found = discover_workspace(tmp_path)
    keys = {image.key: image for image in found.images if image.dockerfile == "docker/Dockerfile"}
    assert set(keys) == {"app:latest-cpu", "app:latest-gpu", "app:dev"}
    assert keys["app:latest-gpu"].base_image == "nvidia/cuda:12.1.1-base-ubuntu22.04"
    assert keys["app:dev"].stage == "dev"


def test_shell_conditions_and_case_words() -> None:
    from lockaudit.workspace.discover._flow import Flow, evaluate

    env = {"A": "x", "T": "true", "E": ""}
    assert evaluate('[ "$A" == "x" ] && ! $T', 1, env) is False
    assert evaluate('[[ $A = y || -z "$E" ]]', 1, env) is True
    assert evaluate('[ "$UNSET" == "x" ]', 1, env) is None
    assert evaluate('[ -f somefile ]', 1, env) is None
    flow = Flow()
    lines = ["case $HW in", "cuda)", "F=Dockerfile", ";;", "rocm) F=Dockerfile_amd ;;",
             "esac", "case $(uname -m) in", "x86_64) ARCH=amd64 ;;", "arm64) ARCH=arm ;;", "esac"]
    ran = [flow.step(n, text, {"HW": "rocm"}) for n, text in enumerate(lines, 1)]
    # a static word takes its arm only; a word only a run knows takes every arm
    assert [r for r in ran if r] == ["F=Dockerfile_amd", "ARCH=amd64", "ARCH=arm"]


def test_ci_step_picks_the_dockerfile_by_case_and_passes_it_through_github_env(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {
        "Dockerfile": "FROM nvidia/cuda:12.4.1-base-ubuntu22.04\n",
        "Dockerfile_amd": "FROM rocm/dev-ubuntu-22.04:6.2\n",
        ".github/workflows/build.yml": """\
on: push
jobs:
  build:
    strategy:
      matrix:
        hardware: [cuda, rocm]
    steps:
      - name: variables
        run: |
          case ${{ matrix.hardware }} in
            cuda)
                export dockerfile="Dockerfile"
                export label="";;
            rocm)
                export dockerfile="Dockerfile_amd"
                export label="-rocm"
                ;;
          esac
          echo "DOCKERFILE=${dockerfile}" >> $GITHUB_ENV
          echo "LABEL=${label}" >> $GITHUB_ENV
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: |
            ghcr.io/acme/server
          tags: |
            type=semver,pattern={{version}}${{ env.LABEL }}
            type=raw,value=latest${{ env.LABEL }}
            type=raw,value=sha-${{ github.sha }}${{ env.LABEL }}
      - uses: docker/build-push-action@v6
        with:
          context: .
          file: ${{ env.DOCKERFILE }}
          tags: ${{ steps.meta.outputs.tags }}
""",
    })
    from lockaudit.workspace.discover._ci import scan_github

    facts = scan_github(tmp_path, ".github/workflows/build.yml")
    assert {(f.dockerfile, f.ref.text if f.ref else None) for f in facts} == {
        ("Dockerfile", "ghcr.io/acme/server:latest"),
        ("Dockerfile_amd", "ghcr.io/acme/server:latest-rocm"),
    }
    found = discover_workspace(tmp_path)
    assert {image.dockerfile for image in found.images} == {"Dockerfile", "Dockerfile_amd"}
