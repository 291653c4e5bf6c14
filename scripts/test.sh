#!/usr/bin/env bash
# The whole test suite: builds, installs what the end-to-end tests need, runs every test file.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash scripts/install-test-deps.sh
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files found under dist/test" >&2; exit 1; }
exec node --test --test-concurrency=1 "$@" "${files[@]}"
