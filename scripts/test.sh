#!/usr/bin/env bash
# The whole test suite: builds, installs what the end-to-end tests need, runs every test file,
# then the storage-agnostic API test files a second time with every server on S3.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
bash scripts/install-test-deps.sh
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files found under dist/test" >&2; exit 1; }
# "The API test suite through a replica on S3": with E2E_API_STORAGE=s3, test/api/support.ts
# starts each server on a fresh bucket of the run's S3 gateway (blobs streamed through lading, not
# redirected: test/e2e/replicas.test.ts covers redirects). Every file here asserts what the
# registry answers, whatever stores it. Left out: durability.test.js, whose subject is the
# filesystem driver (requests cut off mid-body against its journal, restarts over one directory,
# and checks of the bare storage tree), and the test files outside test/api (auth, CLI, e2e).
s3_api_files=()
for name in base blobs catalog concurrency config errors hostile immutable-tags manifest-types manifest-validation manifests model mounts referrers tags ui upload-digests uploads; do
  s3_api_files+=("dist/test/api/${name}.test.js")
done
# One dockerd, one containerd and one S3 gateway serve every test file of the run, both passes:
# with-daemons starts them, runs the passes one after the other (in-sequence), stops them by their
# PIDs however the run ends and exits with the first failing pass's status.
# Test files share the daemons one at a time: keep --test-concurrency=1.
exec node dist/test/with-daemons.js node dist/test/in-sequence.js \
  node --test --test-concurrency=1 "$@" "${files[@]}" \
  --- env E2E_API_STORAGE=s3 node --test --test-concurrency=1 "$@" "${s3_api_files[@]}"
