#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint, built once from the Go module proxy into the
# user cache (next to the embedded cluster's builds). Idempotent: a cached binary is reused.
# actionlint also runs shellcheck on `run:` blocks when shellcheck is on PATH (Debian: shellcheck).
# Exits non-zero on any finding. Extra arguments are passed to actionlint.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
cache="${ARGOCD_CHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/argocd-chaos}"
bindir="$cache/tools/actionlint-$ACTIONLINT_VERSION"
bin="$bindir/actionlint"

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "error: Go not found on PATH; needed to build actionlint" >&2; exit 1; }
  echo "actionlint: installing github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION into $bindir"
  mkdir -p "$bindir"
  # actionlint v1.7.12 needs Go >= 1.25; the caller's GOTOOLCHAIN (the Makefile's go1.27.3) also works.
  GOBIN="$bindir" CGO_ENABLED=0 go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
else
  echo "actionlint: using cached $bin"
fi

if command -v shellcheck >/dev/null; then
  echo "actionlint: shellcheck $(shellcheck --version | sed -n 's/^version: //p') checks run: blocks"
else
  echo "actionlint: shellcheck not on PATH; run: blocks are not shell-checked (apt-get install -y shellcheck)"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "actionlint: no workflows under .github/workflows" >&2
  exit 1
fi
echo "actionlint: $("$bin" -version | head -1) on ${workflows[*]}"
"$bin" "$@" "${workflows[@]}"
echo "actionlint: no findings"
