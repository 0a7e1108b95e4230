#!/usr/bin/env bash
# Builds the operator binary as the image ships it and prints its path: release, the Swift
# runtime linked statically, every function (Swift and C) in a section of its own so that the
# linker drops the ones nothing calls, linked by lld. The code a role runs then sits on fewer
# pages: the webhook's RSS under load is 0.5-1 MiB smaller than with gold and one text section
# per file (Benchmarks/README.md).
#
#   hack/build-release.sh                     # scratch path .build-static (SCRATCH=DIR for another)
# The Dockerfile, the benchmark scripts and hack/check-image-runtime.sh build through it.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${SCRATCH:-.build-static}
flags=(-c release --static-swift-stdlib --scratch-path "$scratch"
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcc -fdata-sections -Xswiftc -use-ld=lld)
swift build "${flags[@]}" --product security-profiles-operator >&2
echo "$(swift build "${flags[@]}" --show-bin-path)/security-profiles-operator"
