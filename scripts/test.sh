#!/usr/bin/env bash
# The whole test suite: builds, installs what the end-to-end tests need, runs every test file.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash scripts/install-test-deps.sh
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files found under dist/test" >&2; exit 1; }
# One dockerd and one containerd serve every test file of the run: with-daemons starts them, runs
# the test runner, stops them by their PIDs however the run ends and exits with the runner's status.
# Test files share the daemons one at a time: keep --test-concurrency=1.
exec node dist/test/with-daemons.js node --test --test-concurrency=1 "$@" "${files[@]}"
