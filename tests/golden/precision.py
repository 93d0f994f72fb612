"""Accuracy of low-precision weights on every golden case (docs/PRECISION.md).

For each case of gen.py: attn's outputs with --weights-dtype DTYPE against
attn's f32 outputs, beside PyTorch's own low-precision run of the same module
(bf16: torch.autocast("cpu", torch.bfloat16), same seed, so the same weights
and inputs) against PyTorch's f32 outputs. Per case: the largest absolute
error over all float outputs, the mean cosine similarity of their rows (last
dim; a row of zeros in both counts 1) and the integer outputs that differ
(seq2seq tokens). Prints a markdown table and, with --bounds FILE, writes the
bounds tests/golden/precision_check.c asserts: each measured error times
MARGIN and each 1 - cosine times MARGIN, never looser than PyTorch's own
(where PyTorch's run is lower precision than f32 at all).

    ATTN_LIBRARY=build/libattn.so /usr/bin/python3 tests/golden/precision.py \
        [--dtype bf16] [--bounds tests/golden/precision_bf16.txt]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
import attn  # noqa: E402
import gen  # noqa: E402

MARGIN = 4.0  # bounds: measured error x MARGIN (a different rounding of a few values is noise, not a bug)


def row_cosines(a, b):
    a = a.reshape(-1, a.shape[-1] if a.ndim else 1).astype(np.float64)
    b = b.reshape(-1, b.shape[-1] if b.ndim else 1).astype(np.float64)
    dot, na, nb = (a * b).sum(1), np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    return np.where(both_zero, 1.0, dot / np.maximum(na * nb, 1e-300))


def compare(got, want):
    """(max abs error, mean row cosine, differing ints) of dicts of arrays."""
    err, cosines, ints = 0.0, [], 0
    for name, w in want.items():
        g = np.asarray(got[name])
        w = np.asarray(w)
        if np.issubdtype(w.dtype, np.floating):
            err = max(err, float(np.abs(g.astype(np.float64) - w).max()) if w.size else 0.0)
            cosines.extend(row_cosines(g, w).tolist())
        else:
            ints += int((g != w).sum())
    return err, (float(np.mean(cosines)) if cosines else 1.0), ints


def attn_outputs(model, entry, hp, case_dir, dtype):
    m = attn.Model(os.path.join(ROOT, model), **dict(hp))
    m.bind(os.path.join(case_dir, "weights.safetensors"))
    inputs = attn.load_safetensors(os.path.join(case_dir, "inputs.safetensors"))
    return m.compile(entry, threads=1, weights_dtype=dtype)(**inputs)


def torch_outputs(index, build, low):
    """The case's outputs from PyTorch, in f32 or (low) under bf16 autocast. The
    autocast run keeps autograd on: that turns off the fused inference fast paths
    of MultiheadAttention / TransformerEncoderLayer, which fail under autocast."""
    torch.manual_seed(gen.case_seed(index))
    if low:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, _, outputs = build()
    else:
        with torch.inference_mode():
            _, _, outputs = build()
    return {n: t.detach().float().numpy() if t.is_floating_point() else t.detach().numpy() for n, t in outputs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bf16", choices=["bf16"])
    ap.add_argument("--bounds", help="write the bounds file here")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    wanted = set(filter(None, args.cases.split(",")))
    rows = []
    print("| case | attn %s: max abs err | mean cos | ints differ | PyTorch autocast: max abs err | mean cos "
          "| ints differ |" % args.dtype)
    print("|---|---|---|---|---|---|---|")
    for i, (name, model, entry, hp, build) in enumerate(gen.CASES):
        if wanted and name not in wanted:
            continue
        d = os.path.join(gen.FIXTURES, name)
        ref = attn_outputs(model, entry, hp, d, "f32")
        a = compare(attn_outputs(model, entry, hp, d, args.dtype), ref)
        try:
            p = compare(torch_outputs(i, build, True), torch_outputs(i, build, False))
            ptext = "%.2e | %.7f | %d" % p
        except AssertionError:  # gen.py's check that greedy logits have no near-ties fails in bf16
            p, ptext = (0.0, 1.0, 0), "logits tie in bf16 | | "
        rows.append((name, a, p))
        print("| %s | %.2e | %.7f | %d | %s |" % ((name,) + a + (ptext,)), flush=True)
    if args.bounds:
        with open(args.bounds, "w") as f:
            f.write("# Bounds of tests/golden/precision_check.c for --weights-dtype %s, written by\n"
                    "# tests/golden/precision.py from measurements on this machine: per case, the\n"
                    "# largest absolute error and 1 - mean row cosine against f32, each x %g, or\n"
                    "# PyTorch autocast's own when that is tighter and not zero; integer outputs\n"
                    "# (greedy tokens) must equal f32's.\n"
                    "# <case> <max abs error> <min mean cosine>\n" % (args.dtype, MARGIN))
            for name, a, p in rows:
                err = max(a[0] * MARGIN, 1e-6)
                gap = max((1 - a[1]) * MARGIN, 1e-9)
                if p[0] > 0:  # PyTorch's run was lower precision: never looser than it
                    err = min(err, max(p[0], a[0] * 1.5))
                    gap = min(gap, max(1 - p[1], (1 - a[1]) * 1.5, 1e-9))
                f.write("%s %.3g %.10f\n" % (name, err, 1 - gap))


if __name__ == "__main__":
    main()
