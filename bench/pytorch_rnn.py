#!/usr/bin/python3
"""PyTorch side of bench/run_rnn: torch.nn.GRU / torch.nn.LSTM (input 256,
hidden 512, 64 steps, batch_first=True) with the weights and inputs that
bench_rnn wrote to DIR, under torch.inference_mode(), with N threads.

    /usr/bin/python3 bench/pytorch_rnn.py DIR THREADS [REPEATS]

Prints, per model and batch, the median wall-clock time and the median process
CPU time (all threads) of REPEATS runs after a warm-up, and the max abs diff of
PyTorch's outputs against the attn JIT's; one line per measurement for
scripts: RESULT model batch threads torch wall_ms cpu_ms maxdiff.
"""
import json
import statistics
import struct
import sys
import time

import numpy as np
import torch

E, H, T = 256, 512, 64


def read_safetensors(path):
    """The tensors of a safetensors file as float32 numpy arrays, by name."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: dtype {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"]).copy()
    return out


def bench(d, name, batch, threads, repeats):
    cls = torch.nn.GRU if name == "gru" else torch.nn.LSTM
    model = cls(E, H, num_layers=1, batch_first=True)
    weights = read_safetensors(f"{d}/{name}.safetensors")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    model.eval()
    io = read_safetensors(f"{d}/{name}_b{batch}_io.safetensors")
    x = torch.from_numpy(io["input"])
    state = torch.from_numpy(io["h_0"])
    if name == "lstm":
        state = (state, torch.from_numpy(io["c_0"]))
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(3):
            out = model(x, state)
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            out = model(x, state)
            t1, c1 = time.perf_counter(), time.process_time()
            times.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
    y, s = out
    got = [y, s] if name == "gru" else [y, s[0], s[1]]
    want = ["output", "h_n", "c_n"]
    diff = max(float(np.max(np.abs(g.numpy() - io[w]))) for g, w in zip(got, want))
    return statistics.median(times), statistics.median(cpu), diff


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: pytorch_rnn.py DIR THREADS [REPEATS]")
    d, threads = sys.argv[1], int(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 51
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {repeats} runs")
    for name in ("gru", "lstm"):
        for batch in (1, 32):
            ms, cpu, diff = bench(d, name, batch, threads, repeats)
            print(f"{name:4} batch {batch:2} threads {threads}: torch {ms:9.3f} ms (cpu {cpu:9.3f})  "
                  f"max |torch - JIT| {diff:.2e}")
            print(f"RESULT {name} {batch} {threads} torch {ms:.4f} {cpu:.4f} {diff:.3e}", flush=True)


if __name__ == "__main__":
    main()
