#!/usr/bin/env bash
# CI's check of the plugin protocol: the generated code is current, the .proto passes
# buf's lint, and nothing breaks wire or JSON compatibility with the published v1 API
# (api-v1.binpb, a buf image). After a deliberate, compatible addition, refresh the
# image with: (cd proto && buf build -o api-v1.binpb).
set -euo pipefail
cd "$(dirname "$0")"
bash generate.sh --check
BUF=${BUF:-buf}
"$BUF" lint
"$BUF" breaking --against api-v1.binpb
echo "plugin protocol: lint and breaking-change checks pass"
