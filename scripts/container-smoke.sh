#!/usr/bin/env bash
# Runs the image on the host's loopback and asks it a real question: /health, then a letter count
# answered by the model mounted from assets/. Bounded; the container is removed afterwards.
# Usage: scripts/container-smoke.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-strawberry:latest}
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NAME=strawberry-smoke-$$
trap '"$DOCKER" rm -f "$NAME" >/dev/null 2>&1 || true' EXIT
"$DOCKER" run -d --name "$NAME" --network host -e PORT="$PORT" -e HOST=127.0.0.1 -e API_KEY=smoke-key-0001 \
  -v "$PWD/assets:/models:ro" "$TAG" serve >/dev/null
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$PORT/health"; echo
curl -sf -X POST "http://127.0.0.1:$PORT/api/position_count/letter_count" -H 'Authorization: Bearer smoke-key-0001' \
  -H 'Content-Type: application/json' -d '{"word": "strawberry", "letter": "r"}'; echo
echo "user: $("$DOCKER" exec "$NAME" id -u)"
echo "container: OK"
