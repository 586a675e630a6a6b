#!/usr/bin/env bash
# A local Docker engine for lockaudit's tests and CI: install, start, stop, status.
#
#   scripts/engine.sh start    install if needed, start dockerd, make the local base images
#   scripts/engine.sh stop     stop the dockerd this script started (by its pid) and its bridge
#   scripts/engine.sh status   exit 0 when the engine answers, 3 when it does not
#   scripts/engine.sh install  only install the packages (dockerd 26, docker-buildx)
#   scripts/engine.sh images   only make the local base images (engine running)
#
# Why it is done this way (see the project's engine notes):
# * Debian 12's docker.io (20.10) cannot run `docker buildx bake` with `target:` contexts, so
#   docker.io 26 and docker-buildx come from Debian 13 (trixie). They are fetched through an apt
#   view of our own (its own sources list, lists and cache under the state directory), so the
#   machine's /etc/apt is never changed; the mirror is read from the machine's own sources.
# * dockerd runs with --iptables=false --ip-forward=false so the host network is left alone;
#   the default bridge stays because BuildKit's RUN steps need one.
# * No registry is ever contacted: base images are made here from a debootstrap rootfs (cached
#   as a tarball so the second run takes seconds) and a busybox rootfs, via `docker import`.
#
# Every command is idempotent; `start` returns at once when the engine already answers.
# Environment: LOCKAUDIT_DOCKER_ROOT (default /var/lib/lockaudit-docker) holds the data root,
# pid file, log, apt view and rootfs cache.
set -euo pipefail

STATE="${LOCKAUDIT_DOCKER_ROOT:-/var/lib/lockaudit-docker}"
DATA="$STATE/data"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
APTVIEW="$STATE/apt"
CACHE="$STATE/cache"
PYTHON_IMAGE="${LOCKAUDIT_PYTHON_BASE:-local/python-base:3.11}"
BUSYBOX_IMAGE="${LOCKAUDIT_BUSYBOX_BASE:-local/busybox-base:1}"
SUITE_FOR_ROOTFS="bookworm"   # python3 is 3.11 there: the targets' interpreter
# Other jobs on the machine may hold the dpkg lock for a while: wait for it, do not fail.
APT_WAIT=(-o DPkg::Lock::Timeout=600)

log() { printf 'engine: %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root (installs packages, starts dockerd)"
        exit 2
    fi
}

# The first URI of the machine's main Debian source (not the security one).
debian_mirror() {
    local file=/etc/apt/sources.list.d/debian.sources uri
    if [ -r "$file" ]; then
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$file" \
            | grep -v -- '-security' | head -n1)
    fi
    if [ -z "${uri:-}" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
    fi
    if [ -z "${uri:-}" ]; then
        log "cannot find the machine's Debian mirror in /etc/apt"
        exit 2
    fi
    printf '%s\n' "$uri"
}

engine_answers() {
    timeout 5 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

dockerd_major() {
    command -v dockerd >/dev/null 2>&1 || { echo 0; return; }
    dockerd --version | sed -E 's/^Docker version ([0-9]+).*/\1/'
}

have_buildx() {
    docker buildx version >/dev/null 2>&1
}

apt_view() {
    apt-get -o Dir::Etc::SourceList="$APTVIEW/sources.list" \
        -o Dir::Etc::SourceParts="$APTVIEW/sources.list.d" \
        -o Dir::State::Lists="$APTVIEW/lists" \
        -o Dir::Cache="$APTVIEW/cache" \
        -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root "$@"
}

install_engine() {
    need_root
    if [ "$(dockerd_major)" -ge 26 ] && have_buildx; then
        return 0
    fi
    local started=$SECONDS mirror
    mirror=$(debian_mirror)
    mkdir -p "$APTVIEW/sources.list.d" "$APTVIEW/lists/partial" "$APTVIEW/cache/archives/partial" \
        "$APTVIEW/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
        >"$APTVIEW/sources.list"
    log "fetching docker.io and docker-buildx from trixie"
    apt_view update -qq
    (cd "$APTVIEW/debs" && rm -f ./*.deb && apt_view download docker.io docker-buildx)
    # Their dependencies (containerd, runc, tini...) come from the machine's own suite.
    if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ]; then
        apt-get update -qq
    fi
    # The package's scripts try to start a service; with no init system they must not fail.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends \
        "$APTVIEW"/debs/docker.io_*.deb "$APTVIEW"/debs/docker-buildx_*.deb \
        || DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -qq -f
    log "installed dockerd $(dockerd --version) in $((SECONDS - started)) s"
}

start_engine() {
    need_root
    if engine_answers; then
        return 0
    fi
    install_engine
    mkdir -p "$DATA"
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        log "dockerd (pid $(cat "$PIDFILE")) runs but does not answer yet"
    else
        rm -f "$PIDFILE"
        log "starting dockerd (data root $DATA)"
        # setsid: the daemon outlives the shell that started it, and never reads our stdin.
        setsid dockerd --data-root "$DATA" --pidfile "$PIDFILE" --storage-driver overlay2 \
            --iptables=false --ip-forward=false >>"$LOG" 2>&1 </dev/null &
    fi
    local tries=0
    until engine_answers; do
        tries=$((tries + 1))
        if [ "$tries" -gt 60 ]; then
            log "dockerd did not answer within 30 s; last lines of $LOG:"
            tail -n 20 "$LOG" >&2
            exit 1
        fi
        sleep 0.5
    done
    log "engine ready: $(docker info --format 'dockerd {{.ServerVersion}}, {{.Driver}}')"
}

stop_engine() {
    if [ ! -f "$PIDFILE" ]; then
        return 0
    fi
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd (pid $pid) ignored SIGTERM for 30 s; killing it"
            kill -KILL "$pid" || true
        fi
    fi
    rm -f "$PIDFILE"
    if ip link show docker0 >/dev/null 2>&1; then
        ip link delete docker0 || true
    fi
    log "engine stopped"
}

image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

# local/busybox-base: a static busybox alone; instant, for tests that need no Python.
make_busybox_image() {
    image_exists "$BUSYBOX_IMAGE" && return 0
    local deb root
    if [ ! -x /bin/busybox ] || ! /bin/busybox --help 2>&1 | grep -q 'static\|BusyBox'; then
        DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -qq busybox-static
    fi
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    tar -C "$root" -c . | docker import - "$BUSYBOX_IMAGE" >/dev/null
    rm -rf "$root"
    deb=$(docker image inspect --format '{{.Size}}' "$BUSYBOX_IMAGE")
    log "made $BUSYBOX_IMAGE ($deb bytes)"
}

# local/python-base: Debian bookworm minbase + python3 + a venv on PATH (Debian's own pip
# refuses to install into the system interpreter, PEP 668).
make_python_image() {
    image_exists "$PYTHON_IMAGE" && return 0
    local tarball="$CACHE/python-base-$SUITE_FOR_ROOTFS.tar" started=$SECONDS
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null 2>&1 \
            || DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -qq debootstrap
        local root mirror
        mirror=$(debian_mirror)
        root=$(mktemp -d "$STATE/rootfs.XXXXXX")
        log "debootstrap $SUITE_FOR_ROOTFS (python3, pip, venv) into $root"
        debootstrap --variant=minbase --include=python3,python3-pip,python3-venv \
            "$SUITE_FOR_ROOTFS" "$root" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
            || { tail -n 20 "$STATE/debootstrap.log" >&2; exit 1; }
        chroot "$root" /usr/bin/python3 -m venv /opt/venv
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        mkdir -p "$CACHE"
        tar -C "$root" -cf "$tarball.partial" .
        mv "$tarball.partial" "$tarball"
        rm -rf "$root"
        log "rootfs cached in $tarball after $((SECONDS - started)) s"
    fi
    docker import \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'CMD ["python3"]' \
        "$tarball" "$PYTHON_IMAGE" >/dev/null
    log "made $PYTHON_IMAGE in $((SECONDS - started)) s"
}

make_images() {
    need_root
    engine_answers || { log "no engine answers: run '$0 start' first"; exit 1; }
    make_busybox_image
    make_python_image
}

status() {
    if engine_answers; then
        docker info --format 'running: dockerd {{.ServerVersion}}, {{.Driver}}, root {{.DockerRootDir}}'
        docker buildx version 2>/dev/null || echo "docker-buildx: absent"
        return 0
    fi
    echo "not running"
    return 3
}

case "${1:-}" in
    install) install_engine ;;
    start) start_engine; make_images ;;
    images) make_images ;;
    stop) stop_engine ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status|install|images" >&2
        exit 2
        ;;
esac
