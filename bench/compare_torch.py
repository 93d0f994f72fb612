"""The PyTorch side of bench/compare: one row's module, with the weights and
inputs of DIR, under torch.inference_mode() with THREADS threads, in a fresh
process (run by bench/compare.py with OMP_WAIT_POLICY=PASSIVE).

    /usr/bin/python3 bench/compare_torch.py ROW DIR THREADS REPEATS [bf16|int8]

bf16: the module runs under torch.autocast("cpu", torch.bfloat16) (products
in bf16, weights cast on every call, as autocast does); where the fused
inference fast paths of MultiheadAttention / TransformerEncoderLayer fail
under autocast (torch 1.13), with autograd on, which turns them off.
int8: the module runs quantized by PyTorch's dynamic int8 quantization
(int8_module below).

After 3 warm-up runs, REPEATS runs are timed (wall clock). The peak RSS
(VmHWM) is reset to the RSS just before the first run; its growth by the end
of the last run is the memory the runs needed. The outputs are
compared with DIR/expected.safetensors (written by the same module, so this
only checks that the run is deterministic; with int8, how far PyTorch's int8
is from its fp32). Prints one line for scripts:
    RESULT median_ms rss_growth_mb max_abs_diff mismatched_ints mean_cosine
mean_cosine: of each f32 output's rows (last axis) with the expected rows,
averaged over the rows; the lowest over the outputs (1 when there are none;
a row that is zero in both counts as 1).
"""
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn

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


def mean_cosine(got, want):
    """The cosine similarity of each row (last axis) of got with want's, averaged."""
    last = got.shape[-1] if got.dim() else 1
    g, w = got.double().reshape(-1, last), want.double().reshape(-1, last)
    dot, ng, nw = (g * w).sum(1), g.norm(dim=1), w.norm(dim=1)
    both_zero = (ng == 0) & (nw == 0)
    cos = torch.where(both_zero, torch.ones_like(dot), dot / (ng * nw).clamp_min(1e-300))
    return float(cos.mean()) if cos.numel() else 1.0


def int8_module(module):
    """PyTorch's dynamic int8 quantization of a row's module, as users apply
    it: torch.quantization.quantize_dynamic over nn.Linear, nn.LSTM, nn.GRU
    and the RNN cells (weights int8 per tensor, activations quantized per
    call). Debian's torch 1.13 has no fbgemm engine: onednn. quantize_dynamic
    swaps children of exact types only, so a row's own GRU/LSTM subclass
    (PackedLSTM included) is copied into a plain nn.GRU/nn.LSTM, quantized as
    a child of a holder and called with nn.LSTM's signature (PackedLSTM's
    packing around it); the
    encoder layer's fused fast path does not take quantized Linear and is
    turned off. MultiheadAttention keeps fp32 (its projections are not
    nn.Linear). Returns a callable that takes the row's inputs."""
    torch.backends.quantized.engine = "onednn"
    spec = {nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell}
    if isinstance(module, (nn.GRU, nn.LSTM)):  # the rows' own subclasses
        base = nn.LSTM if isinstance(module, nn.LSTM) else nn.GRU
        plain = base(module.input_size, module.hidden_size, batch_first=module.batch_first)
        plain.load_state_dict(module.state_dict())
        q = torch.quantization.quantize_dynamic(nn.Sequential(plain), {base}, dtype=torch.qint8)[0]
        if isinstance(module, compare_rows.PackedLSTM):
            def run_packed(x, h_0, c_0, lengths):  # PackedLSTM.forward around the quantized LSTM
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                y, (h, c) = q(packed, (h_0, c_0))
                y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
                return y, h, c
            return run_packed
        if base is nn.LSTM:
            def run_lstm(x, h_0, c_0):
                y, (h, c) = q(x, (h_0, c_0))
                return y, h, c
            return run_lstm
        return q
    for m in module.modules():
        if isinstance(m, nn.TransformerEncoderLayer):
            m.activation_relu_or_gelu = False
    return torch.quantization.quantize_dynamic(module, spec, dtype=torch.qint8)


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[5:] not in ([], ["bf16"], ["int8"]):
        sys.exit("usage: compare_torch.py ROW DIR THREADS REPEATS [bf16|int8]")
    bf16 = sys.argv[5:] == ["bf16"]
    row, d = compare_rows.find(sys.argv[1]), sys.argv[2]
    threads, repeats = int(sys.argv[3]), max(1, int(sys.argv[4]))
    torch.set_num_threads(threads)
    module = row.build().float().eval()
    module.load_state_dict(read_safetensors(os.path.join(d, "weights.safetensors")))
    inputs = list(read_safetensors(os.path.join(d, "inputs.safetensors")).values())
    if sys.argv[5:] == ["int8"]:
        module = int8_module(module)
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
    diff, mismatched, cosine = 0.0, 0, 1.0
    for name, got in zip(row.outputs, outputs):
        want = expected[name]
        if got.dtype == torch.float32:
            diff = max(diff, float((got - want).abs().max()))
            cosine = min(cosine, mean_cosine(got, want))
        else:
            mismatched += int((got != want).sum())
    print("RESULT %.4f %.2f %.3e %d %.7f" % (statistics.median(times), rss1 - rss0, diff, mismatched, cosine),
          flush=True)


if __name__ == "__main__":
    main()
