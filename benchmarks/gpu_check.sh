#!/usr/bin/env bash
# The GPU check of issue 10, in one run of at most 8 minutes on one GPU (figures go to docs/performance.md):
#   1. the CUDA-marked tests (tests/test_cuda.py);
#   2. torchrun --nproc_per_node 1 (NCCL) on the paper preset for 50 iterations: the data-parallel path
#      on CUDA (a one-rank process group still runs the gradient all-reduce, the BatchNorm statistics'
#      averaging and the stop vote) and D's two forwards before one backward, which DDP's buffer
#      broadcast used to break;
#   3. paper-preset training at batch 64 in fp32, tf32 and bf16, with --channels-last and with --compile:
#      it/s, videos/s, peak memory, MFU against a matmul and a Conv3d timed in the same run; and the
#      loader's videos/s from prepared shards at --workers auto next to what the GPU consumes;
#   4. the footage-large preset (R1 penalty, the average of G) for 30 iterations: its log's videos/s;
#   5. I3D clips/s (the FVD network).
# Usage, from anywhere:  bash benchmarks/gpu_check.sh   (PYTHON=... picks the interpreter)
# Without a GPU it says so and exits 0. A failing step is reported and the others still run; the exit
# status is 1 if any step failed.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible on this machine: nothing to check (run it where a GPU is lent)"
    exit 0
fi
"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
step() {  # step SECONDS TITLE COMMAND...
    local limit=$1 title=$2 start=$SECONDS
    shift 2
    echo "== $title"
    if timeout "$limit" "$@"; then
        echo "-- ok ($((SECONDS - start)) s)"
    else
        echo "-- FAILED (exit $?, $((SECONDS - start)) s): $title"
        failed=1
    fi
}
step 90 "CUDA tests" "$PY" -m pytest -q -m cuda tests/test_cuda.py
step 120 "torchrun --nproc_per_node 1, NCCL, paper preset, 50 iterations" \
    "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m videogan.cli train --preset paper \
    --iterations 50 --log-every 10 --checkpoint-every 50 --sample-every 50 --out "$work/torchrun" --no-progress
step 180 "paper preset training speed, batch 64" \
    "$PY" benchmarks/gpu_train_speed.py --batch-size 64 --iterations 15 --channels-last --compile --loader
step 40 "footage-large preset, 30 iterations" \
    "$PY" -m videogan.cli train --preset footage-large --iterations 30 --log-every 10 --checkpoint-every 30 \
    --sample-every 30 --out "$work/footage" --no-progress
# without the converted weights (`videogan weights i3d`), the same network with random ones times the same
i3d_weights=$("$PY" -c "from videogan.eval.weights import converted_path; print(converted_path().exists())")
step 45 "I3D clips/s" "$PY" benchmarks/fvd_speed.py --batch-sizes 8 32 --repeats 3 \
    $([ "$i3d_weights" = True ] || echo --random-weights)
exit $failed
