#!/usr/bin/env bash
# GPU readiness check: everything that needs a CUDA device, in one run, results in one folder.
#
#   bash bench/gpu_check.sh [--dry-run] [--budget SECONDS] [--compile] [--only S1,S2] [OUT_DIR]
#
# Steps, in order of importance (each under a timeout, later ones shortened or skipped when the
# budget, default 480 s, runs out; a failing step does not stop the others):
#   1. environment    GPU, driver, python, torch, triton, transformers versions
#   2. selfcheck      python -m cl_kernels --check --json OUT_DIR/selfcheck.json
#   3. pytest_cuda    pytest -m cuda tests            (the CUDA-only tests)
#   4. bench_e2e      bench/bench_e2e.py --device cuda (T5-large, bf16, 8 x 512; OUT_DIR/e2e_cuda.json)
#   5. bench_<op>     every other bench/bench_*.py --device cuda --no-compile (OUT_DIR/<op>_cuda.json)
# OUT_DIR (default gpu_check_results/<UTC time>) then holds at most 8 files: gpu_check.log (all
# output, ending with the summary), summary.json (per step: status, exit code, seconds), the
# self-check's JSON and the benchmarks' JSON files, so that a device run's $OUT brings all back.
# Commit the *_cuda.json files to bench/results/ and the numbers to the READMEs.
#
# --dry-run   the same steps on the CPU with --quick shapes (what the CPU can run: the CUDA tests
#             are collected and skip, Triton rows of the self-check skip unless TRITON_INTERPRET=1),
#             to test this script without a GPU.
# --compile   also time torch.compile of the references in the op benchmarks (several minutes).
# --only      run only these steps (comma-separated names as above, e.g. selfcheck,bench_e2e).
# The exit status is 1 when any step failed or timed out, else 0.
# Python: $PYTHON (default python3) with torch, triton, transformers, peft, accelerate, pytest; the
# packages are taken from this checkout's sources (PYTHONPATH), nothing is installed.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
DRY_RUN=0
COMPILE=0
BUDGET=480
OUT_DIR=""
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --compile) COMPILE=1 ;;
    --budget) shift; BUDGET="${1:?--budget needs a number of seconds}" ;;
    --only) shift; ONLY=",${1:?--only needs step names},";;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) OUT_DIR="$1" ;;
  esac
  shift
done
OUT_DIR="${OUT_DIR:-$ROOT/gpu_check_results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
LOG="$OUT_DIR/gpu_check.log"
: >"$LOG"

export PYTHONPATH="$ROOT/packages/cl-kernels/src:$ROOT/packages/cl-data/src:$ROOT/packages/cl-eval/src:$ROOT/packages/cl-methods/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0 PYTHONUNBUFFERED=1

if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu
  QUICK=(--quick)
else
  DEVICE=cuda
  QUICK=()
fi
COMPILE_FLAG=(--no-compile)
[ "$COMPILE" = 1 ] && COMPILE_FLAG=()

START=$(date +%s)
STEPS=()
FAILED=0

log() { echo "$*" | tee -a "$LOG"; }

# run_step NAME MAX_SECONDS CMD...: run under the smaller of MAX_SECONDS and the budget left.
run_step() {
  local name="$1" max="$2"
  shift 2
  if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then
    return
  fi
  local left=$((BUDGET - ($(date +%s) - START)))
  local limit=$((max < left ? max : left))
  log ""
  log "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  if [ "$limit" -lt 20 ]; then
    log "--- $name: skipped (budget of ${BUDGET}s spent)"
    STEPS+=("{\"step\": \"$name\", \"status\": \"skipped\", \"exit_code\": null, \"seconds\": 0}")
    return
  fi
  local t0=$(date +%s) rc status
  (cd "$ROOT" && timeout --kill-after=10 "$limit" "$@") 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  local dt=$(($(date +%s) - t0))
  case "$rc" in
    0) status=ok ;;
    124|137) status=timeout; FAILED=1 ;;
    *) status=failed; FAILED=1 ;;
  esac
  log "--- $name: $status (exit $rc, ${dt}s)"
  STEPS+=("{\"step\": \"$name\", \"status\": \"$status\", \"exit_code\": $rc, \"seconds\": $dt}")
}

log "gpu_check.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), device $DEVICE, dry run $DRY_RUN, budget ${BUDGET}s"
log "checkout: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) ($ROOT)"
log "results: $OUT_DIR"

run_step environment 60 bash -c "
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; else echo 'nvidia-smi: not found'; fi
  $PYTHON - <<'EOF'
import platform, torch
print('python', platform.python_version(), '| torch', torch.__version__, '| cuda', torch.version.cuda,
      '| device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for name in ('triton', 'transformers', 'peft', 'accelerate', 'pytest'):
    try:
        module = __import__(name)
        print(name, module.__version__)
    except Exception as exc:
        print(name, 'MISSING:', exc)
if '$DEVICE' == 'cuda' and not torch.cuda.is_available():
    raise SystemExit('no CUDA device visible to torch: run with --dry-run on a CPU machine')
EOF"

run_step selfcheck 150 "$PYTHON" -m cl_kernels --check --device "$DEVICE" --json "$OUT_DIR/selfcheck.json"

run_step pytest_cuda 150 "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda tests

run_step bench_e2e 240 "$PYTHON" bench/bench_e2e.py --device "$DEVICE" "${QUICK[@]}" --output-dir "$OUT_DIR"

for script in "$ROOT"/bench/bench_*.py; do
  name="$(basename "$script" .py)"
  [ "$name" = bench_e2e ] && continue
  run_step "$name" 90 "$PYTHON" "bench/$name.py" --device "$DEVICE" "${QUICK[@]}" "${COMPILE_FLAG[@]}" --output-dir "$OUT_DIR"
done

{
  echo "{"
  echo "  \"device\": \"$DEVICE\", \"dry_run\": $([ "$DRY_RUN" = 1 ] && echo true || echo false), \"budget_s\": $BUDGET, \"seconds\": $(($(date +%s) - START)),"
  echo "  \"steps\": ["
  for i in "${!STEPS[@]}"; do
    sep=","
    [ "$i" = $((${#STEPS[@]} - 1)) ] && sep=""
    echo "    ${STEPS[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} >"$OUT_DIR/summary.json"

log ""
log "=== summary ($(($(date +%s) - START))s; results in $OUT_DIR)"
for s in "${STEPS[@]}"; do log "$s"; done
if [ "$FAILED" = 1 ]; then
  log "gpu_check: FAILED (see the steps above)"
  exit 1
fi
log "gpu_check: all steps ok"
exit 0
