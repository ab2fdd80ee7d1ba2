#!/usr/bin/env bash
# scripts/offline_deps.sh — the build's packages for a machine that has a compiler, CMake (and, for the
# cuda backend, the CUDA toolkit) but neither weft's packages nor a package registry: a GPU server, say.
#
#   bash scripts/offline_deps.sh fetch DIR          # here, on Debian 12 with apt: the .deb files into DIR
#   bash scripts/offline_deps.sh unpack DIR PREFIX  # there: extracted under PREFIX, nothing installed
#   eval "$(bash scripts/offline_deps.sh env PREFIX)"  # CMake, protoc-c and the loader then use them
#
# bench/cuda.sh does the last two itself when WEFT_DEPS_DEBS names the folder of .deb files. The set
# is what the build needs beyond a compiler's own libraries: protobuf-c (and protoc-c with the C++
# protobuf libraries it runs on), ONNX's onnx.proto, CUnit, libpcap, zlib and zstd headers, and oneDNN
# with the OpenCL loader it links. OpenBLAS is left out (its library alone is 36 MB): CMake then builds
# without the openblas backend. Packages are unpacked with dpkg -x, never installed: the machine's own
# system stays as it was.
set -euo pipefail

PACKAGES=(protobuf-c-compiler libprotobuf-c-dev libprotobuf-c1 libprotobuf32 libprotoc32 libonnx-dev
          libcunit1-dev libcunit1 libpcap0.8-dev libpcap0.8 libdbus-1-3 zlib1g-dev zlib1g libzstd-dev libzstd1
          libdnnl-dev libdnnl2 ocl-icd-libopencl1)

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
fetch)
    [ $# -eq 2 ] || usage
    mkdir -p "$2"
    # apt-get download writes into the current folder; the _apt user may not write to DIR (a warning)
    (cd "$2" && apt-get download "${PACKAGES[@]}")
    ls -l "$2"
    ;;
unpack)
    [ $# -eq 3 ] || usage
    mkdir -p "$3"
    n=0
    for deb in "$2"/*.deb; do
        [ -e "$deb" ] || { echo "no .deb files in $2" >&2; exit 1; }
        dpkg -x "$deb" "$3"
        n=$((n + 1))
    done
    # a -dev package's libfoo.so may point at /lib/...: inside PREFIX it must point at PREFIX's copy
    find "$3" -type l -lname '/*' | while read -r l; do
        t="$(readlink "$l")"
        if [ -e "$3$t" ]; then ln -sfn "$(cd "$3" && pwd)$t" "$l"; fi
    done
    echo "unpacked $n packages under $3"
    ;;
env)
    [ $# -eq 2 ] || usage
    p="$(cd "$2" && pwd)/usr"
    arch="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
    lib="$p/lib/$arch:$(cd "$2" && pwd)/lib/$arch"
    echo "export CMAKE_PREFIX_PATH=\"$p\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}\""
    echo "export PATH=\"$p/bin:\$PATH\""
    echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "export LIBRARY_PATH=\"$lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
    ;;
*) usage ;;
esac
