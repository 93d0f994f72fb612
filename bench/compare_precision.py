"""Accuracy of low-precision weights on bench/compare's rows (the benchmark
shapes, random weights as bench/compare makes them): attn with weights in
DTYPE against attn in f32, beside PyTorch's bf16 autocast against PyTorch in
f32; max abs error over the float outputs, mean cosine of their rows, integer
outputs that differ (tests/golden/precision.py does the same on the golden
cases).

    ATTN_LIBRARY=build/libattn.so /usr/bin/python3 bench/compare_precision.py [--rows SUBSTRING,...]
"""
import argparse
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import compare_prepare  # noqa: E402
import compare_rows  # noqa: E402
from gen import read_safetensors  # noqa: E402
from precision import compare  # noqa: E402  (also puts python/ on the path)
import attn  # noqa: E402


def attn_outputs(row, d, dtype, threads):
    m = attn.Model(os.path.join(ROOT, row.model), import_paths=[os.path.join(ROOT, "models")], **row.hp)
    m.bind(os.path.join(d, "weights.safetensors"))
    inputs = attn.load_safetensors(os.path.join(d, "attn_inputs.safetensors"))
    out = m.compile(row.entry, threads=threads, weights_dtype=dtype)(**inputs)
    return {k: v for k, v in out.items() if k in row.outputs}


def torch_outputs(row, d, low):
    module = row.build().float().eval()
    module.load_state_dict(read_safetensors(os.path.join(d, "weights.safetensors")))
    inputs = list(read_safetensors(os.path.join(d, "inputs.safetensors")).values())
    # autocast with autograd on: the fused fast paths of torch 1.13 fail under autocast
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
        outputs = module(*inputs)
    return {n: o.detach().float().numpy() if o.is_floating_point() else o.detach().numpy()
            for n, o in zip(row.outputs, outputs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="")
    ap.add_argument("--dtype", default="bf16", choices=["bf16"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| row | attn %s: max abs err | mean cos | ints differ | PyTorch autocast: max abs err | mean cos "
          "| ints differ |" % args.dtype)
    print("|---|---|---|---|---|---|---|")
    for i, row in enumerate(compare_rows.ROWS):
        if args.rows and not any(s and s in row.name for s in args.rows.split(",")):
            continue
        with tempfile.TemporaryDirectory(prefix="attn_precision.") as d:
            compare_prepare.prepare(row, i, d)
            a = compare(attn_outputs(row, d, args.dtype, args.threads), attn_outputs(row, d, "f32", args.threads))
            try:
                p = "%.2e | %.7f | %d" % compare(torch_outputs(row, d, True), torch_outputs(row, d, False))
            except RuntimeError as e:
                p = "error: %s | | " % str(e).splitlines()[0]
        print("| %s | %.2e | %.7f | %d | %s |" % ((row.name,) + a + (p,)), flush=True)


if __name__ == "__main__":
    main()
