#!/usr/bin/env bash
# The GPU check: the CUDA tests, then bench_core, bench_scale --quick and bench_export on CUDA,
# every figure in one file. Under 8 minutes on one GPU (each step has its own time limit).
#
#   bash bench/gpu.sh [--out FILE]       # on a machine with a GPU; FILE: $OUT/gpu.txt or gpu.txt
#   bash bench/gpu.sh --dry-run --out F  # the same steps on the CPU, small, to check the script
#
# It needs no install: it runs graphseq from src/ with ${PYTHON:-python3}, which must have torch,
# torch_geometric, pytest and hypothesis (onnxruntime for the export bench). A step that fails or
# runs out of time is recorded in the file and the next one runs; the exit status says whether
# any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

dry=0
out="${OUT:+$OUT/gpu.txt}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: bash bench/gpu.sh [--dry-run] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
out="${out:-gpu.txt}"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
failed=0
: >"$out"

note() { printf '%s\n' "$@" | tee -a "$out"; }

# step NAME SECONDS COMMAND...: runs COMMAND with a time limit, its output into the file.
step() {
  local name="$1" limit="$2" start rc
  shift 2
  note "" "## $name" "\$ $*"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    note "-- $name: ok in $(( $(date +%s) - start )) s"
  else
    [ "$rc" -eq 124 ] && note "-- $name: stopped at its limit of $limit s"
    note "-- $name: FAILED (exit $rc) after $(( $(date +%s) - start )) s"
    failed=1
  fi
}

note "# graphseq GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')$([ $dry = 1 ] && echo ', dry run on the CPU')"
if command -v nvidia-smi >/dev/null 2>&1; then
  note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
fi
note "$("$python" - <<'EOF'
import os, platform, torch, torch_geometric
cuda = torch.cuda.is_available()
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), "
      f"torch_geometric {torch_geometric.__version__}, {os.cpu_count()} CPUs, "
      f"device: {torch.cuda.get_device_name() if cuda else 'none (CPU only)'}")
EOF
)"

if [ "$dry" = 1 ]; then
  device=cpu
  step "CUDA tests (collected only: no GPU here)" 120 \
    "$python" -m pytest -q -p no:cacheprovider --collect-only -k cuda
  step "bench_core --quick" 120 "$python" bench/bench_core.py --quick --device cpu
  step "bench_scale --quick (small)" 240 "$python" bench/bench_scale.py --quick --device cpu \
    --section speed --no-compile --nodes 3000 --edges 30000 --seeds 32 --batches 1 --repeat 1
  step "bench_export" 240 "$python" bench/bench_export.py --device cpu --rounds 1 --calls 1
else
  device=cuda
  step "CUDA tests" 150 "$python" -m pytest -q -p no:cacheprovider -k cuda \
    --continue-on-collection-errors
  step "bench_core --quick" 60 "$python" bench/bench_core.py --quick --device "$device"
  step "bench_scale --quick" 180 "$python" bench/bench_scale.py --quick --device "$device"
  step "bench_export" 90 "$python" bench/bench_export.py --device "$device" --rounds 5
fi
note "" "# done: $([ $failed = 0 ] && echo 'every step ran' || echo 'some steps FAILED')"
exit "$failed"
