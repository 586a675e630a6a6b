"""Every rule's stable code and its documentation: the one table ``docs/rules.md`` is made from.

A rule's name, default severity and one-line description live with its function (the
``@rule(...)`` decorator); this table adds what must never change once published (the code)
and what a user needs to fix a finding (why it matters, a bad and a good example). Codes are
grouped by subject:

====== ===========================================================
LA1xx  the image graph and layering: FROM, parents, coverage, what layers repeat or replace
LA2xx  locks and pins: lock files, pins, versions.txt, yanked or vulnerable releases
LA3xx  Dockerfile instructions and install steps: RUN lines, caches, source builds
LA4xx  resolution: requirements that cannot be installed together
LA5xx  CUDA and the target: CUDA wheels, torch builds and their companions
LA9xx  lockaudit itself: unreachable indexes, unused inline ignores
====== ===========================================================

Codes are never reused or renumbered: a removed rule keeps its number retired. A new rule takes
the next free number of its subject (and an entry here; ``python -m lockaudit.rules.docs``
then writes ``docs/rules.md``). Pure data: importing it costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SUBJECTS", "RuleDoc", "code_of", "doc_of", "entries"]

SUBJECTS = {
    "LA1": "Image graph and layering",
    "LA2": "Locks and pins",
    "LA3": "Dockerfile instructions and install steps",
    "LA4": "Resolution conflicts",
    "LA5": "CUDA and the target",
    "LA6": "The built image",
    "LA9": "lockaudit itself",
}


@dataclass(frozen=True)
class RuleDoc:
    """The code of rule ``name`` and its documentation (Markdown; examples are file text)."""

    code: str
    name: str
    why: str
    bad: str
    good: str
    bad_file: str = "Dockerfile"
    good_file: str = ""  # same as bad_file when empty

    @property
    def subject(self) -> str:
        return SUBJECTS[self.code[:3]]


_DOCS = (
    # ------------------------------------------------------------------ LA1: graph, layering
    RuleDoc(
        "LA101",
        "from-mismatch",
        "The image graph in `[tool.lockaudit]` says which image a stage is built on; a final "
        "`FROM` that names another image builds the stage on something the locks never saw.",
        "# docker/asr/Dockerfile, declared parent base-ml:cuda\nFROM registry/base:cuda\n",
        "ARG PARENT_IMAGE=registry/base-ml:cuda\nFROM ${PARENT_IMAGE}\n",
    ),
    RuleDoc(
        "LA102",
        "duplicate-heavy-install",
        "A heavy package (torch, its CUDA wheels, ...) an ancestor image already provides is "
        "installed again: pip replaces or repeats gigabytes in the child's layer.",
        "# base-ml installs torch==2.1.0\nFROM base-ml:cuda\nRUN pip install torch==2.1.0 "
        "faster-whisper==1.0.3\n",
        "FROM base-ml:cuda\nRUN pip install faster-whisper==1.0.3\n",
    ),
    RuleDoc(
        "LA103",
        "common-repeated",
        "`requirements-common.txt` is installed once in the base image; repeating one of its "
        "packages in a stage invites two versions of it.",
        "# docker/asr/requirements.txt (numpy is in requirements-common.txt)\nnumpy==1.26.4\n"
        "faster-whisper==1.0.3\n",
        "faster-whisper==1.0.3\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA104",
        "orphan-requirements",
        "A requirements file that no Dockerfile installs and no lock is compiled from is read "
        "by nobody: its pins mislead whoever edits them.",
        "# docker/asr/requirements-old.txt exists; the Dockerfile installs only\nRUN pip install "
        "-r requirements.txt\n",
        "# delete requirements-old.txt, or install it:\nRUN pip install -r requirements.txt "
        "-r requirements-old.txt\n",
    ),
    RuleDoc(
        "LA105",
        "dockerfile-requirements-mismatch",
        "The image's declared requirement files and what its Dockerfile installs disagree: a "
        "declared pin is never installed, pinned to another version, or a `-r` file cannot be "
        "traced to a COPY.",
        "COPY docker/asr/requirements.txt .\nRUN pip install -r requirements.txt "
        "faster-whisper==1.0.2\n# requirements.txt says faster-whisper==1.0.3\n",
        "COPY docker/asr/requirements.txt .\nRUN pip install -r requirements.txt\n",
    ),
    RuleDoc(
        "LA106",
        "fallback-missing-install",
        "A CPU fallback built on another parent loses what its twin's ancestors installed (the "
        "ML base's torch, ...); if nothing installs those packages again, the image lacks them.",
        "# silero-vad:cpu is built FROM base:cpu instead of base-ml:cuda\nFROM base:cpu\n"
        "COPY app/ /app/\n",
        "FROM base:cpu\nRUN pip install --no-deps --require-hashes -r "
        "/locks/silero-vad-cpu.layer.txt\n",
    ),
    RuleDoc(
        "LA107",
        "dockerfile-not-covered",
        "A Dockerfile of the repository that no image is built from and no `exclude` entry "
        "names bypasses the gate: decide what it is.",
        "# pyproject.toml: images base, asr; the repository also has docker/tts/Dockerfile\n"
        "[tool.lockaudit.images.asr]\ndockerfile = \"docker/asr/Dockerfile\"\n",
        "[tool.lockaudit]\nexclude = [\"docker/tts/Dockerfile\"]   # or declare the image\n",
        bad_file="toml",
    ),
    RuleDoc(
        "LA108",
        "exclude-stale",
        "An `exclude` entry that matches no Dockerfile (moved or deleted), or names one an image "
        "is built from, no longer says anything true.",
        "[tool.lockaudit]\nexclude = [\"docker/old/Dockerfile\"]   # the file is gone\n",
        "[tool.lockaudit]\nexclude = []\n",
        bad_file="toml",
    ),
    RuleDoc(
        "LA109",
        "dockerfile-unreadable",
        "A configured Dockerfile that cannot be parsed: its image and every image built on it "
        "are left out of the other rules, so the gate says so instead of passing.",
        "FROM base:cpu\nRUN pip install \\\n",
        "FROM base:cpu\nRUN pip install --no-deps --require-hashes -r /locks/app.layer.txt\n",
    ),
    RuleDoc(
        "LA110",
        "reinstalls-parent-package",
        "A layer replaces a release its parent image provides; the parent's copy stays in the "
        "layer below, so its bytes are stored twice and the parent's promise (\"PyTorch "
        'installed once") is broken.',
        "# base-ml has torch 2.1.0; pyannote.audio 3.4.0 needs torchaudio>=2.2.0\nFROM "
        "base-ml:cuda\nRUN pip install pyannote.audio==3.4.0\n",
        "FROM base-ml:cuda\nRUN pip install pyannote.audio==3.1.1\n",
    ),
    RuleDoc(
        "LA111",
        "version-drift",
        "One package at different versions in images built on the same base: the images "
        "behave differently and no layer can be shared.",
        "# docker/tmdb/Dockerfile\nRUN pip install requests==2.32.5\n# docker/asr/Dockerfile\n"
        "RUN pip install requests==2.34.2\n",
        "# versions.txt\nrequests==2.34.2\n# both Dockerfiles install the versions.txt pin\n",
    ),
    RuleDoc(
        "LA112",
        "hoist-candidate",
        "A package installed identically by several children of one parent (install it once "
        "in the parent), or installed in a base that no child needs it from.",
        "# docker/asr/Dockerfile and docker/diarization/Dockerfile, both FROM base-ml\nRUN pip "
        "install soundfile==0.12.1\n",
        "# docker/base-ml/Dockerfile\nRUN pip install soundfile==0.12.1\n",
    ),
    RuleDoc(
        "LA113",
        "build-sources-disagree",
        "Two of the repository's build sources (a Makefile, a compose file, a CI workflow, a "
        "bake file) build the same image differently: one passes a base image as a build "
        "argument and the other takes the Dockerfile's default, or one builds `--target "
        "runtime` and the other the last stage. The published image and the one built "
        "locally then differ under one name, and only one of them is what was audited.",
        "# Makefile\nbuild:\n\tdocker build --build-arg BASE_IMAGE=python:3.11-slim -t app -f "
        "app.Dockerfile .\n# .github/workflows/publish.yml builds app.Dockerfile with no "
        "build-args\n# app.Dockerfile\nARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n",
        "# app.Dockerfile: the default is what every source builds\nARG "
        "BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n# Makefile and workflow pass the "
        "same build args and target, or none\n",
        bad_file="text",
    ),
    # ------------------------------------------------------------------ LA2: locks, pins
    RuleDoc(
        "LA201",
        "lock-missing",
        "An image has no full lock or no layer lock, so its build cannot be reproduced.",
        "locks/\n  base-cpu.txt\n  base-cpu.layer.txt\n  # asr-cuda.txt is missing\n",
        "$ lockaudit compile --stage asr\nlocks/\n  asr-cuda.txt\n  asr-cuda.layer.txt\n",
        bad_file="text",
    ),
    RuleDoc(
        "LA202",
        "lock-stale",
        "An input of the lock (a requirement file, a constraint, the parent's lock) changed "
        "since the lock was compiled: the lock no longer says what the inputs ask for.",
        "# requirements.txt edited after the last compile\nfaster-whisper==1.0.3\n",
        "$ lockaudit compile --stage asr   # the header digest matches the inputs again\n",
        bad_file="requirements",
        good_file="text",
    ),
    RuleDoc(
        "LA203",
        "lock-not-superset",
        "A child's full lock must pin every package of its parent's lock at the same version: "
        "anything else reinstalls a parent package at build time.",
        "# locks/base-ml-cuda.txt\ntorch==2.1.0\n# locks/asr-cuda.txt\ntorch==2.2.0\n",
        "# locks/asr-cuda.txt\ntorch==2.1.0\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA204",
        "lock-hash-missing",
        "A locked package without a sha256 for one of its files cannot be installed with "
        "`--require-hashes`.",
        "numpy==1.26.4\n",
        "numpy==1.26.4 \\\n    --hash=sha256:<digest of each file>\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA205",
        "lock-provenance",
        "A locked file does not come from the index its package is routed to (a torch wheel "
        "from the default index instead of the PyTorch index of the variant).",
        "torch==2.1.0 \\\n    --hash=sha256:...\n    # index: the default index\n",
        "torch==2.1.0+cu121 \\\n    --hash=sha256:...\n    # index: the routed PyTorch index\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA206",
        "lock-tampered",
        "A lock's body no longer matches the digest its header records: it was edited by "
        "hand, and what the build installs was never resolved.",
        "# body-digest: sha256:abc...\nnumpy==1.26.5   # edited by hand\n",
        "$ lockaudit compile --stage base   # rewrite it instead of editing\n",
        bad_file="requirements",
        good_file="text",
    ),
    RuleDoc(
        "LA207",
        "lock-inconsistent",
        "An image's full lock, layer lock and pylock must pin the same packages, versions and "
        "hashes (the layer lock exactly the full lock minus the parent's).",
        "# locks/asr-cuda.txt pins ctranslate2==4.3.1\n# locks/asr-cuda.layer.txt pins "
        "ctranslate2==4.3.0\n",
        "$ lockaudit compile --stage asr   # writes all three from one resolution\n",
        bad_file="text",
    ),
    RuleDoc(
        "LA208",
        "lock-not-used",
        "A lock of another tool (`poetry.lock`, `uv.lock`, `Pipfile.lock`, `pdm.lock`) is "
        "copied into the image, but no command that reads it runs: pip resolves the "
        "dependencies afresh and the lock's pins are never installed.",
        "COPY pyproject.toml poetry.lock ./\nRUN pip install -e .\n",
        "COPY pyproject.toml poetry.lock ./\nRUN poetry install --no-root --only main\n",
    ),
    RuleDoc(
        "LA209",
        "lock-unfounded",
        "A lock must answer its image's inputs: each `# via <image>: <file>:<line>` names a "
        "requirement line of that package whose specifier the pin satisfies, each `# via "
        "<package>` a package of the lock, and every requirement and constraint of the image "
        "holds for the lock. The three lock files can be rendered again consistently by "
        "anyone; their relation to the requirement files cannot be forged without changing "
        "those files, which makes the lock stale.",
        "# docker/asr/requirements.txt:1\nwhisperx==3.1.1\n# locks/asr-cuda.txt\n"
        "whisperx==3.1.0\n    # via asr:cuda: docker/asr/requirements.txt:1\n"
        "evil==1.0\n    # via asr:cuda: docker/asr/requirements.txt:1\n",
        "$ lockaudit compile --stage asr   # the lock is written from the inputs, never by hand\n",
        bad_file="text",
    ),
    RuleDoc(
        "LA210",
        "unpinned-install",
        "An install without `==` takes whatever the index serves on build day (an error on a "
        "Dockerfile line, a warning in a requirements file a lock may still pin).",
        "RUN pip install fastapi uvicorn\n",
        "RUN pip install fastapi==0.110.0 uvicorn==0.29.0\n",
    ),
    RuleDoc(
        "LA211",
        "versions-mismatch",
        "`versions.txt` is the one source of truth for shared pins; a pin elsewhere that "
        "disagrees with it wins in its image and silently splits the family.",
        "# versions.txt: torch==2.1.0\n# constraints/cuda121.txt\ntorch==2.2.0+cu121\n",
        "# constraints/cuda121.txt\ntorch==2.1.0+cu121\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA212",
        "pin-drift",
        "The same package pinned to different versions in different files (packages that "
        "`versions.txt` pins are LA211's).",
        "# docker/a/requirements.txt\nrich==13.7.0\n# docker/b/requirements.txt\nrich==13.6.0\n",
        "# both files\nrich==13.7.0\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA213",
        "direct-reference",
        "A VCS, URL, local or editable requirement (or `--no-binary`) that a hash-pinned lock "
        "cannot hold as written: a branch moves, an archive without a hash is not verified, a "
        "local package's dependencies are resolved at build time.",
        "whisperx @ git+https://example.org/whisperx.git@main\n",
        "whisperx @ git+https://example.org/whisperx.git@<40-hex commit>\n"
        "# or, better: whisperx==3.1.1 from an index\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA214",
        "remote-requirements",
        "`pip install -r <URL>` reads its requirements from outside the build context: what "
        "the image installs changes with whatever the URL serves when it is built, and no hash "
        "checks it.",
        "RUN pip install -r https://example.org/project/$BRANCH/requirements.txt\n",
        "COPY requirements/developer.txt /tmp/\nRUN pip install --require-hashes -r "
        "/tmp/developer.txt\n",
    ),
    RuleDoc(
        "LA215",
        "requirements-copy-drift",
        "A requirement file that says it is a copy of another (\"copy of\", \"same as\", "
        "\"keep in sync with\") no longer lists the same requirements: a package is missing, "
        "added or pinned differently. The image that installs the copy gets another set than "
        "the one it claims to mirror. Packages the copy's header names are stated "
        "differences.",
        "# docker/base/app-requirements.txt\n# a copy of docker/app/requirements.txt minus "
        "mpi4py\nscipy~=1.11\n# docker/app/requirements.txt also has pymysql~=1.0\n",
        "# docker/base/app-requirements.txt\n# a copy of docker/app/requirements.txt minus "
        "mpi4py\nscipy~=1.11\npymysql~=1.0\n",
        bad_file="requirements",
    ),
    RuleDoc(
        "LA220",
        "yanked-pin",
        "An install picks a release its maintainers yanked; pip installs it only because it "
        "is pinned exactly.",
        "RUN pip install some-package==1.2.0   # 1.2.0 is yanked\n",
        "RUN pip install some-package==1.2.1\n",
    ),
    RuleDoc(
        "LA221",
        "vulnerable-pin",
        "An installed release has known vulnerabilities (an error when a fixed release "
        "exists, a warning when none does).",
        "RUN pip install requests==2.25.0\n",
        "RUN pip install requests==2.32.3   # the first fixed release or later\n",
    ),
    RuleDoc(
        "LA222",
        "index-confusion",
        "A package is listed on more than one index (dependency confusion: a same-named "
        "release on the default index or an extra one). Routed, the lock takes it from its "
        "index only (an info); not routed, pip takes the highest version from any index that "
        "lists it: a warning when the indexes disagree (another offers a higher release the "
        "lock's index lacks, or other files for the locked release), an info when they serve "
        "the same files (a mirror or local copy).",
        "[[tool.lockaudit.indexes]]\nname = \"company\"\nurl = \"https://pypi.company.example"
        "/simple\"\n# company-utils is on this index and on the default index\n",
        "[[tool.lockaudit.indexes]]\nname = \"company\"\nurl = \"https://pypi.company.example"
        "/simple\"\npackages = [\"company-utils\"]\n",
        bad_file="text",
        good_file="text",
    ),
    # ------------------------------------------------------------------ LA3: Dockerfile, installs
    RuleDoc(
        "LA301",
        "dockerfile-not-from-lock",
        "A Dockerfile that installs anything but its layer lock with `--require-hashes` lets "
        "pip re-resolve at build time: the image is not what the lock says.",
        "RUN pip install -r requirements.txt\n",
        "COPY locks/asr-cuda.layer.txt /tmp/\nRUN pip install --no-deps --require-hashes -r "
        "/tmp/asr-cuda.layer.txt\n",
    ),
    RuleDoc(
        "LA302",
        "shell-redirect",
        "An unquoted `>` or `<` in a pip argument is a shell redirection: the shell installs "
        "the package unpinned and writes a file named after the version.",
        "RUN pip install fastapi>=0.100\n",
        "RUN pip install 'fastapi>=0.100'\n",
    ),
    RuleDoc(
        "LA303",
        "cache-mount-disabled",
        "A pip cache mount is useless when the same step disables pip's cache "
        "(`--no-cache-dir` or `PIP_NO_CACHE_DIR`).",
        "RUN --mount=type=cache,target=/root/.cache/pip pip install --no-cache-dir -r r.txt\n",
        "RUN --mount=type=cache,target=/root/.cache/pip pip install -r r.txt\n",
    ),
    RuleDoc(
        "LA304",
        "code-before-deps",
        "Code copied before the last dependency install invalidates the install layer on "
        "every code change, so each build reinstalls every package.",
        "COPY . /app\nRUN pip install -r /app/requirements.txt\n",
        "COPY requirements.txt /app/\nRUN pip install -r /app/requirements.txt\nCOPY . /app\n",
    ),
    RuleDoc(
        "LA310",
        "needs-build",
        "A package that can only be installed from source on an image without a compiler: "
        "the build fails, or pip runs the package's build code.",
        "FROM python:3.11-slim\nRUN pip install docopt==0.6.2   # sdist only\n",
        "FROM python:3.11-slim AS build\nRUN apt-get update && apt-get install -y "
        "build-essential && pip wheel -w /w docopt==0.6.2\nFROM python:3.11-slim\nCOPY "
        "--from=build /w /w\nRUN pip install /w/*.whl\n",
    ),
    RuleDoc(
        "LA311",
        "replay-skipped",
        "Part of a `pip install` step could not be replayed as written (a file that cannot "
        "be traced, a URL install): that part is not audited.",
        "RUN pip install -r $REQS   # not traceable to a workspace file\n",
        "COPY docker/asr/requirements.txt /tmp/\nRUN pip install -r /tmp/requirements.txt\n",
    ),
    RuleDoc(
        "LA320",
        "install-failure-hidden",
        "A failed install that does not fail the build (`|| true`, `|| echo`, `| tee` without "
        "pipefail, `;` without `set -e`) ships an image without the package.",
        'RUN pip install --only-binary :all: x==1.0 || echo "no wheel"\n',
        "RUN pip install --only-binary :all: x==1.0\n",
    ),
    RuleDoc(
        "LA321",
        "replaced-by-later-install",
        "A later `pip install` of the same image replaces a release an earlier one installed: "
        "the earlier pin is silently lost (and stored twice when the RUNs differ).",
        "RUN pip install torch==2.1.0 && pip install needs-new-torch==1.0\n",
        "RUN pip install torch==2.1.0 needs-new-torch==0.9   # one resolution: pip refuses a "
        "conflict\n",
    ),
    RuleDoc(
        "LA322",
        "uninstalls-parent-package",
        "`pip uninstall` of a package a lower layer installed: its files stay in that layer, "
        "so the image does not shrink, and whatever requires it breaks.",
        "FROM base-ml:cuda\nRUN pip uninstall -y torchvision\n",
        "# drop torchvision from base-ml's requirements, or build on an image without it\n"
        "FROM base:cuda\n",
    ),
    RuleDoc(
        "LA323",
        "conda-and-pip",
        "One package installed by conda (or mamba) and by pip in one image: pip overwrites "
        "files conda owns without conda knowing.",
        "RUN conda install -y numpy && pip install numpy==1.26.4\n",
        "RUN pip install numpy==1.26.4\n",
    ),
    RuleDoc(
        "LA324",
        "apt-python-package",
        "`apt-get install python3-<pkg>` for a package pip installs too: the system copy "
        "shadows or duplicates pip's (in a virtual environment it is unused bytes).",
        "RUN apt-get install -y python3-numpy && pip install numpy==1.26.4\n",
        "RUN pip install numpy==1.26.4\n",
    ),
    # ------------------------------------------------------------------ LA4: resolution
    RuleDoc(
        "LA325",
        "unknown-extra",
        "`pip install '.[name]'` of a local project whose `pyproject.toml` defines no extra "
        "`name`: pip only warns and installs the project without the dependencies the extra "
        "was meant to bring.",
        "# pyproject.toml: [project.optional-dependencies] has nlp and dev\n"
        "RUN pip install -e '.[graph]'\n",
        "# pyproject.toml: [project.optional-dependencies] graph = [\"neo4j>=5\"]\n"
        "RUN pip install -e '.[graph]'\n",
    ),
    RuleDoc(
        "LA401",
        "install-conflict",
        "A `pip install` step that cannot be resolved: pip stops with ResolutionImpossible "
        "and the build fails.",
        "RUN pip install transformers==4.57.1 huggingface-hub==0.20.3\n# transformers 4.57.1 "
        "requires huggingface-hub>=0.34.0\n",
        "RUN pip install transformers==4.57.1 huggingface-hub==0.34.4\n",
    ),
    RuleDoc(
        "LA402",
        "broken-environment",
        "An installed package's requirement is no longer met in the image (what `pip check` "
        "would say): a later step replaced or omitted what it needs.",
        "RUN pip install librosa==0.10.1\nRUN pip install --no-deps numpy==2.0.2\n",
        "RUN pip install librosa==0.10.1 numpy==1.26.4\n",
    ),
    RuleDoc(
        "LA403",
        "matrix-conflict",
        "The pins of `versions.txt` cannot be installed together on one of the workspace's "
        "targets, so no image can take all of them.",
        "# versions.txt\ntorchaudio==2.1.0\npyannote.audio==3.4.0   # requires torchaudio>=2.2.0\n",
        "# versions.txt\ntorchaudio==2.1.0\npyannote.audio==3.1.1\n",
        bad_file="requirements",
    ),
    # ------------------------------------------------------------------ LA5: CUDA, target
    RuleDoc(
        "LA501",
        "cuda-in-cpu-image",
        "A CPU image installs CUDA wheels (a torch build from the default index pulls "
        "gigabytes of `nvidia-*` wheels no CPU uses).",
        "FROM base:cpu\nRUN pip install torch==2.1.0\n",
        "FROM base:cpu\nRUN pip install --index-url <the PyTorch CPU index> torch==2.1.0+cpu\n",
    ),
    RuleDoc(
        "LA502",
        "cuda-mismatch",
        "torch's CUDA runtime differs from the base image's CUDA: the GPU build loads another "
        "CUDA than the image ships.",
        "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\nRUN pip install torch==2.1.0+cu118\n",
        "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\nRUN pip install torch==2.1.0+cu121\n",
    ),
    RuleDoc(
        "LA503",
        "torch-family-mismatch",
        "torchaudio and torchvision releases belong to one torch release (and one CUDA "
        "build); a mismatched pair fails at import or at run time.",
        "RUN pip install torch==2.1.0 torchaudio==2.2.0\n",
        "RUN pip install torch==2.1.0 torchaudio==2.1.0\n",
    ),
    RuleDoc(
        "LA504",
        "base-image-incompatible",
        "Some GPU wheels load the CUDA and cuDNN libraries of the image instead of bringing "
        "their own (CTranslate2, onnxruntime-gpu, PaddlePaddle, TensorFlow and JAX's CUDA "
        "plugin; the last two load the `nvidia-*` wheels first when those are installed, and "
        "are judged by them): a release built for a newer CUDA or cuDNN than the image "
        "provides fails to load on the GPU. "
        "The facts are a small table per package and release range, each row citing the "
        "project's release notes (`lockaudit/audit/basecompat.py`).",
        "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\nRUN pip install "
        "ctranslate2==4.5.0   # built for cuDNN 9\n",
        "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\nRUN pip install "
        "ctranslate2==4.4.0   # CUDA 12, cuDNN 8\n",
    ),
    # ------------------------------------------------------------------ LA6: the built image
    RuleDoc(
        "LA601",
        "import-fails",
        "A module of a package the image's layer installs does not import in the built image "
        "(`lockaudit build` imports each one after building, with no network). Most often the "
        "package imports a module that no distribution in the image provides: a dependency it "
        "never declared, or one that a newer release of a dependency stopped bringing along. "
        "Only running it shows this; metadata does not.",
        "# docker/asr/requirements.txt\nwhisperx==3.1.1   # imports pkg_resources, never "
        "declares setuptools\n",
        "# docker/asr/requirements.txt\nwhisperx==3.1.1\nsetuptools==69.5.1   # whisperx "
        "imports pkg_resources\n",
        bad_file="requirements",
    ),
    # ------------------------------------------------------------------ LA9: lockaudit itself
    RuleDoc(
        "LA901",
        "index-unreachable",
        "An index could not be reached: the lines that use it, and what depends on them, are "
        "unverified, and an audit must not pass a gate silently.",
        "$ lockaudit audit --offline   # the cache has no copy of a routed index's pages\n",
        "$ lockaudit audit             # or a mirror in [tool.lockaudit.mirrors]\n",
        bad_file="text",
    ),
    RuleDoc(
        "LA902",
        "unused-ignore",
        "An inline `# lockaudit: ignore[...]` that silences nothing: the problem it was "
        "written for is gone, its code names no rule, or it is not where it applies. A stale "
        "ignore would hide the next problem on that line.",
        "# lockaudit: ignore[LA302] quoted since\nRUN pip install 'fastapi>=0.100'\n",
        "RUN pip install 'fastapi>=0.100'\n",
    ),
)

_BY_NAME = {doc.name: doc for doc in _DOCS}
_BY_CODE = {doc.code: doc for doc in _DOCS}


def entries() -> tuple[RuleDoc, ...]:
    """Every catalogued rule, in code order."""
    return tuple(sorted(_DOCS, key=lambda doc: doc.code))


def code_of(name: str) -> str:
    """The code of the rule called ``name`` (a name or already a code), or "" if it has none."""
    doc = _BY_NAME.get(name) or _BY_CODE.get(name)
    return doc.code if doc else ""


def doc_of(name_or_code: str) -> RuleDoc | None:
    return _BY_NAME.get(name_or_code) or _BY_CODE.get(name_or_code)
