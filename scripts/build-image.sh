#!/usr/bin/env bash
# The container image without a registry (this machine reaches only the Debian archive and PyPI): a
# Debian bookworm root made by debootstrap and imported as the runtime base image, the release binary
# built here with the Swift runtime libraries it links, then deploy/Dockerfile with BUILD=prebuilt.
# With registry access, `docker build -f deploy/Dockerfile -t strawberry .` builds from source instead.
# Usage: scripts/build-image.sh [TAG]    (needs a running Docker daemon; see docs/deployment.md)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-strawberry:latest}
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
ROOTFS=${ROOTFS:-/var/tmp/bookworm-rootfs}
BASE=strawberry-base:bookworm
if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  if [ ! -x "$ROOTFS/bin/sh" ]; then
    debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian
  fi
  tar -C "$ROOTFS" -c . | "$DOCKER" import - "$BASE"
fi
swift build -c release --product strawberry
BIN=$(swift build -c release --show-bin-path)/strawberry
# deploy/prebuilt is this script's staging folder (it leaves a marker there); anything else by that
# name is refused rather than replaced.
if [ -e deploy/prebuilt ] && [ ! -f deploy/prebuilt/.made-by-build-image ]; then
  echo "deploy/prebuilt exists and was not made by scripts/build-image.sh; move it away first" >&2; exit 1
fi
STAGE=$(mktemp -d deploy/.prebuilt.XXXXXX)
mkdir -p "$STAGE/bin" "$STAGE/lib"
touch "$STAGE/.made-by-build-image"
cp "$BIN" "$STAGE/bin/strawberry"
# The Swift runtime libraries the binary links (the system ones come from Debian packages in the image).
ldd "$BIN" | awk '$3 ~ /\/lib\/swift\// {print $3}' | xargs -r -I{} cp {} "$STAGE/lib/"
rm -rf deploy/prebuilt
mv "$STAGE" deploy/prebuilt
DOCKER_BUILDKIT=1 "$DOCKER" build --network host -f deploy/Dockerfile --build-arg BUILD=prebuilt \
  --build-arg RUNTIME_IMAGE="$BASE" -t "$TAG" .
echo "built $TAG"
