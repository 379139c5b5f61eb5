#!/usr/bin/env bash
# The GPU paths in one pass, for a machine with a CUDA GPU: the CUDA tests (cuDNN cells, CPU
# parity, padding, bf16; a fold fit in fp32 and bf16-mixed; the lean clip against torch's),
# benchmark 1 in bf16-mixed and fp32, where the harness's per-step time goes there (overhead
# variants, cProfile), one epoch of a Speech Commands v2-sized corpus with LSTM-256, and
# `rnnaudio train` on the GPU when a corpus root is given. Each step has a time limit, so one
# that hangs leaves the others their results.
#
#   bench/gpu_checks.sh OUT_DIR [SYNTH_COMMANDS_ROOT]
set -u
out=${1:?usage: bench/gpu_checks.sh OUT_DIR [SYNTH_COMMANDS_ROOT]}
corpus=${2:-}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

step() {
    local limit=$1 start=$SECONDS
    shift
    echo "== $* (limit ${limit} s)"
    timeout "$limit" "$@"
    echo "== exit $? after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name())"
step 130 $py -m pytest -q -p no:cacheprovider tests/models/test_classifier_cuda.py \
    tests/training/test_fit_cuda.py tests/training/test_grad_clip.py
step 180 $py bench/throughput.py --accelerator gpu --precision bf16-mixed --clips 8192 \
    --out "$out/throughput_gpu_bf16.json"
# eager_groups is left out: a GPU trainer's groups are gathered whole as shipped.
step 120 $py bench/overhead.py --accelerator gpu --precision bf16-mixed --cells rnn lstm \
    --hidden 64 256 --variants shipped one_step_per_loop lightning_dispatch lightning_clip \
    nondeterministic --out "$out/overhead_gpu_bf16.json"
step 60 $py bench/throughput.py --accelerator gpu --precision bf16-mixed --cells rnn \
    --hidden 64 --repeats 3 --profile --out "$out/throughput_gpu_profile.json"
cp bench/results/throughput_profile_rnn64_*.txt "$out/"
step 200 $py bench/throughput.py --accelerator gpu --precision bf16-mixed --cells lstm \
    --hidden 256 --clips 85000 --repeats 2 --out "$out/throughput_gpu_85k.json"
step 70 $py bench/throughput.py --accelerator gpu --precision 32-true --hidden 256 \
    --out "$out/throughput_gpu_fp32.json"
if [[ -n $corpus ]]; then
    work=$(mktemp -d)
    step 70 $py -m rnnaudio.cli train "dataset.root=$corpus" trainer=gpu \
        trainer.precision=bf16-mixed cv.folds=2 trainer.max_epochs=5 trainer.progress=false \
        "features.cache_dir=$work/cache" "tracking.uri=sqlite:///$work/mlflow.db" \
        "tracking.artifact_root=$work/mlartifacts" "hydra.run.dir=$work/outputs"
fi
rm -f "$out"/*.csv  # the JSON holds the same rows
