"""Packed sequences A/B: nn.LSTM b32 over a padded batch with random lengths,
attn's forward_packed vs attn's forward (no lengths) vs PyTorch over
pack_padded_sequence vs PyTorch on the padded tensor, run in turn in one
process so that a busy machine slows all four alike.

    ATTN_LIBRARY=build/libattn.so /usr/bin/python3 bench/packed_ab.py [--threads T] [--rounds R] [--batch B]

Each round times every side once (after 3 warm-up calls each); prints the
median and the best round per side, and checks that the packed sides agree.
Shapes are bench/compare's LSTM rows (input 256, hidden 512, T = 64).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import attn  # noqa: E402
from compare_rows import E_RNN, H_RNN, T_RNN, LSTM, PackedLSTM  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    packed = PackedLSTM(E_RNN, H_RNN, batch_first=True).float().eval()
    padded = LSTM(E_RNN, H_RNN, batch_first=True).float().eval()
    padded.load_state_dict(packed.state_dict())
    B = args.batch
    x, h0, c0 = torch.randn(B, T_RNN, E_RNN), 0.5 * torch.randn(1, B, H_RNN), 0.5 * torch.randn(1, B, H_RNN)
    lengths = torch.randint(1, T_RNN + 1, (B,), dtype=torch.int64)
    model = attn.Model(os.path.join(HERE, "..", "models", "lstm.attn"))
    model.bind({k: v.numpy() for k, v in packed.state_dict().items()})
    feeds = dict(input=x.numpy(), h_0=h0.numpy(), c_0=c0.numpy())
    fwd, fwd_packed = model.compile("forward", threads=args.threads), model.compile("forward_packed", threads=args.threads)
    sides = {
        "attn forward_packed": lambda: fwd_packed(**feeds, lengths=lengths.numpy()),
        "attn forward (padded, no lengths)": lambda: fwd(**feeds),
        "PyTorch packed": lambda: packed(x, h0, c0, lengths),
        "PyTorch padded": lambda: padded(x, h0, c0),
    }
    with torch.inference_mode():
        got, want = sides["attn forward_packed"](), sides["PyTorch packed"]()
        diff = max(float(np.abs(got[n] - w.numpy()).max()) for n, w in zip(("output", "h_n", "c_n"), want))
        for fn in sides.values():
            for _ in range(3):
                fn()
        times = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, fn in sides.items():
                times[name].append(timed(fn))
    print("B=%d T=%d input %d hidden %d, %d threads, %d rounds; lengths mean %.1f (min %d, max %d); "
          "max |attn packed - PyTorch packed| %.1e" % (B, T_RNN, E_RNN, H_RNN, args.threads, args.rounds,
                                                       lengths.float().mean(), lengths.min(), lengths.max(), diff))
    base = statistics.median(times["attn forward_packed"])
    for name, t in times.items():
        print("  %-36s median %8.2f ms  best %8.2f ms  (%.2fx attn packed)" % (name, statistics.median(t), min(t),
                                                                             statistics.median(t) / base))


if __name__ == "__main__":
    main()
