#!/usr/bin/env bash
# Source-line coverage of the fuzz targets' corpora, measured with clang's
# source-based coverage on the replay programs (no libFuzzer involved).
#
# Usage: tests/fuzz/coverage.sh [TARGET...]     (default: source safetensors inputs)
#   replays tests/fuzz/corpus/TARGET, tests/fuzz/regressions/TARGET and, when
#   present, the corpus grown by .ci/fuzz (build-fuzz/work/TARGET/corpus), and
#   prints llvm-cov's per-file report of the library's files for each target.
# Needs clang-19 and llvm-19 (llvm-profdata-19, llvm-cov-19); builds build-cov/.
set -euo pipefail
cd "$(dirname "$0")/../.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(source safetensors inputs)
cmake -S . -B build-cov -DCMAKE_C_COMPILER=clang-19 -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
  -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
cmake --build build-cov -j"$(nproc)" --target "${targets[@]/#/replay_}" >/dev/null
for t in "${targets[@]}"; do
  dirs=(tests/fuzz/corpus/$t tests/fuzz/regressions/$t)
  [ -d build-fuzz/work/$t/corpus ] && dirs+=(build-fuzz/work/$t/corpus)
  rm -f build-cov/$t-*.profraw
  LLVM_PROFILE_FILE="build-cov/$t-%p.profraw" build-cov/tests/fuzz/replay_$t "${dirs[@]}" >/dev/null 2>&1 || true
  llvm-profdata-19 merge -sparse build-cov/$t-*.profraw -o build-cov/$t.profdata
  echo "== $t (${dirs[*]})"
  llvm-cov-19 report build-cov/tests/fuzz/replay_$t -instr-profile=build-cov/$t.profdata \
    -ignore-filename-regex='(tests/|build-cov/|\.h$)' \
    | awk '/^(compiler|runtime|ops)\/|^TOTAL/ { printf "  %-28s lines %6s, missed %6s: %s\n", $1, $8, $9, $10 }'
done
