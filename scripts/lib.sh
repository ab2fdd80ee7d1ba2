# scripts/lib.sh — shared by main.sh and test.sh: logging and idempotent system set-up.
# Sourced, not run.

WEFT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEFT_APT_PACKAGES=(cmake build-essential protobuf-c-compiler libprotobuf-c-dev libonnx-dev
                   libopenblas-openmp-dev libdnnl-dev libcunit1-dev libpcap-dev zlib1g-dev libzstd-dev zstd pkg-config python3-venv)
WEFT_JOBS="${WEFT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { printf '\n==> %s\n' "$*"; }

# Installs the Debian packages weft builds with, only those that are missing (dpkg -s), as root or
# through sudo. Nothing is touched when everything is present, so repeated runs cost nothing.
weft_install_packages() {
    local missing=() p
    for p in "${WEFT_APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "system packages: all present"
        return 0
    fi
    log "system packages: installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: missing packages (${missing[*]}) and not root, no sudo" >&2
            return 1
        fi
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures and builds one build folder: weft_build DIR BUILD_TYPE [extra cmake args...]
weft_build() {
    local dir="$1" type="$2"
    shift 2
    cmake -S "$WEFT_ROOT" -B "$WEFT_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null &&
        cmake --build "$WEFT_ROOT/$dir" -j "$WEFT_JOBS"
}

# The folder of ONNX's node conformance tests in the given Python's onnx package.
weft_onnx_node_dir() {
    "$1" -c 'import os, onnx.backend.test as t; print(os.path.join(os.path.dirname(t.__file__), "data", "node"))'
}
