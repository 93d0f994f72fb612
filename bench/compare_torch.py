"""The PyTorch side of bench/compare: one row's module, with the weights and
inputs of DIR, under torch.inference_mode() with THREADS threads, in a fresh
process (run by bench/compare.py with OMP_WAIT_POLICY=PASSIVE).

    /usr/bin/python3 bench/compare_torch.py ROW DIR THREADS REPEATS [bf16]

bf16: the module runs under torch.autocast("cpu", torch.bfloat16) (products
in bf16, weights cast on every call, as autocast does); where the fused
inference fast paths of MultiheadAttention / TransformerEncoderLayer fail
under autocast (torch 1.13), with autograd on, which turns them off.

After 3 warm-up runs, REPEATS runs are timed (wall clock). The peak RSS
(VmHWM) is reset to the RSS just before the first run; its growth by the end
of the last run is the memory the runs needed. The outputs are
compared with DIR/expected.safetensors (written by the same module, so this
only checks that the run is deterministic). Prints one line for scripts:
    RESULT median_ms rss_growth_mb max_abs_diff mismatched_ints
"""
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen import read_safetensors  # noqa: E402
import compare_rows  # noqa: E402

WARMUP = 3


def status_mb(key):
    with open("/proc/self/status") as f:
        return int(re.search(r"^%s:\s+(\d+)" % key, f.read(), re.M).group(1)) / 1024


def reset_peak_rss():
    """Resets the peak RSS to the current RSS (Linux >= 4.0) and returns that,
    or where that fails, the peak so far."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return status_mb("VmRSS")
    except OSError:
        return status_mb("VmHWM")


def main():
    if len(sys.argv) not in (5, 6) or (len(sys.argv) == 6 and sys.argv[5] != "bf16"):
        sys.exit("usage: compare_torch.py ROW DIR THREADS REPEATS [bf16]")
    bf16 = len(sys.argv) == 6
    row, d = compare_rows.find(sys.argv[1]), sys.argv[2]
    threads, repeats = int(sys.argv[3]), max(1, int(sys.argv[4]))
    torch.set_num_threads(threads)
    module = row.build().float().eval()
    module.load_state_dict(read_safetensors(os.path.join(d, "weights.safetensors")))
    inputs = list(read_safetensors(os.path.join(d, "inputs.safetensors")).values())
    expected = read_safetensors(os.path.join(d, "expected.safetensors"))
    times = []
    rss0 = reset_peak_rss()
    mode = torch.inference_mode
    if bf16:
        try:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                module(*inputs)
        except RuntimeError:  # a fused fast path under autocast
            mode = torch.enable_grad
    with mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for r in range(-WARMUP, repeats):
            t0 = time.perf_counter()
            outputs = module(*inputs)
            t1 = time.perf_counter()
            if r >= 0:
                times.append((t1 - t0) * 1e3)
    rss1 = status_mb("VmHWM")
    outputs = [o.detach().float() if o.is_floating_point() else o.detach() for o in outputs]
    diff, mismatched = 0.0, 0
    for name, got in zip(row.outputs, outputs):
        want = expected[name]
        if got.dtype == torch.float32:
            diff = max(diff, float((got - want).abs().max()))
        else:
            mismatched += int((got != want).sum())
    print("RESULT %.4f %.2f %.3e %d" % (statistics.median(times), rss1 - rss0, diff, mismatched), flush=True)


if __name__ == "__main__":
    main()
