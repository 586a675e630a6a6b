"""CI and script build sources that only a careful reading links: step outputs
(``$GITHUB_OUTPUT`` read back as ``steps.<id>.outputs``), shell pattern expansions, matrix
cells of one recipe. Each test builds a small synthetic repository in a temporary folder."""

from __future__ import annotations

from pathlib import Path

from lockaudit.errors import Location
from lockaudit.parsing.shell import expand_words
from lockaudit.workspace.discover import Discovery, FoundImage, discover_workspace


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _by_file(found: Discovery) -> dict[str, list[FoundImage]]:
    out: dict[str, list[FoundImage]] = {}
    for image in found.images:
        out.setdefault(image.dockerfile, []).append(image)
    return out


def test_shell_pattern_removal_is_evaluated_on_known_values_only() -> None:
    env = {"B": "nvidia/cuda:12.1.1-base-ubuntu22.04", "U": "\x00"}

    def word(text: str) -> str:
        return expand_words(text, Location("x.sh", 1), env)[0][0]

    assert word("${B##*:}") == "12.1.1-base-ubuntu22.04"
    assert word("${B#*:}") == "12.1.1-base-ubuntu22.04"
    assert word("${B%%:*}") == "nvidia/cuda"
    assert word("${B%-*}") == "nvidia/cuda:12.1.1-base"
    assert word('"${B##*-ubuntu}"') == "22.04"
    assert word("${B#nomatch}") == env["B"]
    # a variable nobody set, or one the caller marks unknown, is never trimmed into a value
    assert word("${NOPE##*:}") == "${NOPE##*:}"
    assert word("${U##*}") == "${U##*}"


MATRIX_REPO = {
    "debian.Dockerfile": "ARG BASE_IMAGE=debian:12-slim\nFROM $BASE_IMAGE AS stage1\n"
    "RUN echo one\nFROM stage1\nRUN echo two\n",
    "alpine.Dockerfile": "ARG BASE_IMAGE=alpine:3\nFROM $BASE_IMAGE\nRUN echo alpine\n",
    ".github/workflows/push.yml": """\
on: push
jobs:
  build:
    strategy:
      matrix:
        image:
          - debian:13-slim
          - nvidia/cuda:12.4.1-base-ubuntu22.04
          - frolvlad/alpine-glibc:alpine-3.22
    steps:
      - id: sha
        run: echo "short=$(git rev-parse --short HEAD)" >> $GITHUB_OUTPUT
      - id: vars
        env:
          BASE_IMAGE: ${{ matrix.image }}
        run: |
          base_tag="${BASE_IMAGE##*:}"
          base_name="${BASE_IMAGE%%:*}"
          if [ "${base_name}" = 'nvidia/cuda' ]; then
            echo 'distro=debian' >> "$GITHUB_OUTPUT"
            echo "tag=cuda${base_tag%%-*}" >> "$GITHUB_OUTPUT"
          elif [ "${base_name}" = 'frolvlad/alpine-glibc' ]; then
            echo 'distro=alpine' >> "$GITHUB_OUTPUT"
            echo "tag=alpine${base_tag##alpine-}" >> "$GITHUB_OUTPUT"
          else
            echo 'distro=debian' >> "$GITHUB_OUTPUT"
            echo "tag=debian${base_tag}" >> "$GITHUB_OUTPUT"
          fi
          echo "is_default=$([ "$BASE_IMAGE" = debian:13-slim ] && echo true)" >> $GITHUB_OUTPUT
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: |
            acme/mamba
          tags: |
            type=raw,value=latest,enable=${{ steps.vars.outputs.is_default }}
            type=raw,value=${{ steps.vars.outputs.tag }}
            type=raw,value=git-${{ steps.sha.outputs.short }}
      - uses: docker/build-push-action@v6
        with:
          file: ${{ steps.vars.outputs.distro }}.Dockerfile
          build-args: |
            BASE_IMAGE=${{ matrix.image }}
          tags: ${{ steps.meta.outputs.tags }}
""",
}


def test_step_outputs_choose_the_dockerfile_and_the_tags(tmp_path: Path) -> None:
    _write(tmp_path, MATRIX_REPO)
    found = discover_workspace(tmp_path)
    files = _by_file(found)
    # the Dockerfile each cell builds came from the vars step's output (distro), and the cells
    # of one build line on several bases are one image: one per Dockerfile, not one per cell
    assert sorted(files) == ["alpine.Dockerfile", "debian.Dockerfile"]
    (debian,) = files["debian.Dockerfile"]
    (alpine,) = files["alpine.Dockerfile"]
    assert (debian.name, alpine.name) == ("mamba", "mamba")
    assert debian.tag in ("debian13-slim", "cuda12.4.1")
    assert debian.base_image in ("debian:13-slim", "nvidia/cuda:12.4.1-base-ubuntu22.04")
    assert (alpine.tag, alpine.base_image) == ("alpine3.22", "frolvlad/alpine-glibc:alpine-3.22")
    # the edge names the line of the workflow that passes the base
    assert alpine.edge == ".github/workflows/push.yml:43 --build-arg BASE_IMAGE"
    # values only a run knows (a git hash, an enable= condition) never become a tag
    assert "git-" not in found.config_toml and "\x00" not in found.config_toml
    assert all(image.tag != "latest" for image in found.images)


STAGE_MATRIX_REPO = {
    "Dockerfile": "ARG PLATFORM=xpu\nFROM python:3.11-slim AS cpu\nRUN echo cpu\n"
    "FROM intel/oneapi-basekit:2025.1.3-0-devel-ubuntu22.04 AS xpu\nRUN echo xpu\n"
    "FROM ${PLATFORM} AS final\nRUN echo final\n",
    ".github/workflows/build.yml": """\
on: push
jobs:
  build:
    strategy:
      matrix:
        platform: [cpu, xpu]
    steps:
      - uses: docker/build-push-action@v6
        with:
          build-args: |
            PLATFORM=${{ matrix.platform }}
          tags: acme/server:${{ matrix.platform }}
""",
}


def test_a_matrix_over_stages_builds_separate_images(tmp_path: Path) -> None:
    _write(tmp_path, STAGE_MATRIX_REPO)
    found = discover_workspace(tmp_path)
    keys = sorted(image.key for image in found.images)
    assert keys == ["server:cpu", "server:xpu"]
    bases = {image.key: image.base_image for image in found.images}
    assert bases["server:cpu"] == "python:3.11-slim"
    assert bases["server:xpu"] == "intel/oneapi-basekit:2025.1.3-0-devel-ubuntu22.04"


def test_a_placeholder_arg_default_is_never_pasted_into_a_base(tmp_path: Path) -> None:
    _write(tmp_path, {
        "gpu/Dockerfile": "ARG CUDA_VER=notset\nARG LINUX_VER=ubuntu22.04\n"
        "FROM nvidia/cuda:${CUDA_VER}-base-${LINUX_VER} AS gpu\nRUN echo gpu\n",
        "cpu/Dockerfile": "ARG MINIFORGE_VER=notset\nFROM condaforge/miniforge3:${MINIFORGE_VER}\n",
        "build.sh": "docker build -t acme/cpu:1 --build-arg MINIFORGE_VER=26.1.0-0 cpu\n"
        "docker build -t acme/gpu:1 gpu\n",
    })
    found = discover_workspace(tmp_path)
    by_key = {image.key: image for image in found.images}
    assert "notset" not in found.config_toml
    gpu = by_key["gpu:1"]
    assert gpu.base_image == "nvidia/cuda:${CUDA_VER}-base-${LINUX_VER}"  # as written
    assert str(gpu.variant) == "cuda"  # a CUDA base whatever version a run passes
    assert any(p.startswith("gpu/Dockerfile:3:") and "ARG CUDA_VER" in p and "placeholder" in p
               for p in found.problems)
    # the value a build source passes replaces the placeholder
    assert by_key["cpu:1"].base_image == "condaforge/miniforge3:26.1.0-0"
    assert by_key["cpu:1"].edge == "build.sh:1 --build-arg MINIFORGE_VER"


FLAGS_REPO = {
    "docker/Dockerfile": "ARG BASE_IMAGE=ubuntu:22.04\nFROM ${BASE_IMAGE} AS production\n"
    "RUN echo prod\nFROM ${BASE_IMAGE} AS ci\nRUN echo ci\n",
    "docker/build.sh": """\
#!/bin/bash
TAG="acme/app:latest"
BUILD_TYPE="production"
BASE_IMAGE="ubuntu:22.04"
BRANCH="main"
for arg in "$@"
do
    case $arg in
        -g|--gpu)
          BASE_IMAGE="nvidia/cuda:12.1.0-base-ubuntu22.04"
          shift
          ;;
        -bt|--buildtype)
          BUILD_TYPE="$2"
          shift
          shift
          ;;
        -b|--branch)
          BRANCH="$2"
          shift
          shift
          ;;
        -t|--tag)
          TAG="$2"
          shift
          shift
          ;;
    esac
done
if [ "${BUILD_TYPE}" == "production" ]; then
  docker build -f Dockerfile --build-arg BASE_IMAGE=$BASE_IMAGE -t "${TAG}" --target production ..
elif [ "${BUILD_TYPE}" == "ci" ]; then
  docker build -f Dockerfile --build-arg BASE_IMAGE=$BASE_IMAGE --build-arg BRANCH="${BRANCH}" \\
    -t "${TAG}" --target ci ..
fi
""",
    ".github/workflows/regression.yml": """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - name: Build the CI image
        run: |
          cd docker
          ./build.sh -g -bt ci -b $GITHUB_REF_NAME -t acme/app:ci
""",
}


def test_a_workflow_passes_its_flags_to_the_script_it_runs(tmp_path: Path) -> None:
    _write(tmp_path, FLAGS_REPO)
    found = discover_workspace(tmp_path)
    by_key = {image.key: image for image in found.images}
    # the script alone gives its default run (production, latest); the workflow's call gives the
    # ci stage under the tag the workflow names, on the base its -g flag picks
    assert by_key["app:latest"].stage == "production"
    ci = by_key["app:ci"]
    assert ci.stage == "ci"
    assert ci.base_image == "nvidia/cuda:12.1.0-base-ubuntu22.04"
    assert ci.edge == "docker/build.sh:33 --build-arg BASE_IMAGE"
    assert ci.context == "."  # `..` from docker/, where the workflow runs it
    # the branch only a run knows (-b $GITHUB_REF_NAME) is never pasted as a build arg
    assert all(name != "BRANCH" for name, _ in ci.build_args)
