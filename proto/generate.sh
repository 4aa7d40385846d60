#!/usr/bin/env bash
# Regenerates the Go code of the plugin protocol. Reproducible and offline: protoc from
# Debian's protobuf-compiler package, and protoc-gen-go / protoc-gen-go-grpc at the
# versions pinned by go.mod's tool directives (no remote plugins).
#
#   bash proto/generate.sh          regenerate in place
#   bash proto/generate.sh --check  fail if the committed code differs from a fresh run
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
out=proto
if [ "${1:-}" = "--check" ]; then
  out=$bin/out
  mkdir -p "$out"
fi
protoc -I proto \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out="$out" --go_opt=paths=source_relative \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  proto/gossp/plugin/v1/plugin.proto
if [ "${1:-}" = "--check" ]; then
  for f in "$out"/gossp/plugin/v1/*.go; do
    committed=proto/gossp/plugin/v1/$(basename "$f")
    if ! cmp -s "$f" "$committed"; then
      echo "generated code is stale: $committed (run bash proto/generate.sh)" >&2
      diff -u "$committed" "$f" | head -20 >&2 || true
      exit 1
    fi
  done
  echo "generated code is current"
fi
