"""Runs bench/compare's rows on attn, PyTorch and ONNX Runtime and prints one
table (markdown). Started by bench/compare, which builds attn's bench programs
and installs onnxruntime-node first.

    /usr/bin/python3 bench/compare.py --build DIR [--threads T] [--repeats R]
                                      [--rows SUBSTRING,...] [--keep DIR] [--weights-dtype bf16|int8]

For each row, bench/compare_prepare.py writes the weights, inputs, PyTorch's
outputs and the ONNX export into a temporary directory; then each side runs in
a fresh process (bench_compare_attn, compare_torch.py, compare_ort.js) with T
threads and prints its median time, its peak RSS growth and how far its
outputs are from PyTorch's. A side that fails prints its error in its cell's
place and the other rows go on. Rows that stream their weights once per step
(batch-1 recurrences, greedy decoding) also get a bound: the bytes of weights
read per step over the read bandwidth that bench_bandwidth measures for a
buffer of that size (cache-resident when it fits) and for 256 MB (DRAM),
the best of its rounds.

Rows marked `imported` also run the very .onnx file ORT runs through attn:
`attnc import` turns it into a .attn and its weights, and bench_compare_attn
runs that (the "attn import" side; the import itself is not timed). A second
table sets it beside the hand-written zoo model and ORT.

--weights-dtype bf16 adds attn's bf16 column and PyTorch's bf16 autocast beside
attn's f32 (a second table).

--weights-dtype int8 adds a second table of int8 columns, each side with its
own dynamic int8 quantization (weights int8 per channel or per tensor,
activations quantized at run time): attn compiled with --weights-dtype int8,
PyTorch's quantize_dynamic (compare_torch.py int8) and ONNX Runtime on the
export rewritten into DynamicQuantizeMatMul / DynamicQuantizeLSTM
(compare_quant_onnx.py). Their max abs diff is against PyTorch's fp32 outputs.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compare_prepare  # noqa: E402
import compare_quant_onnx  # noqa: E402
import compare_rows  # noqa: E402

DRAM_BYTES = 256 << 20
TIMEOUT_S = 1800
DIFF_LIMIT = 1e-3  # a larger max abs diff from PyTorch's outputs is flagged


def peer_env(threads):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    env.pop("OPENBLAS_CORETYPE", None)
    return env


def side(cmd, env):
    """Runs one side; returns its RESULT fields as floats, or an error string."""
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIMEOUT_S
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return [float(x) for x in line.split()[1:]]
    lines = [ln for ln in (p.stderr + p.stdout).strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or ln.startswith(("attn:", "ort:"))]
    return "exit %d: %s" % (p.returncode, " | ".join((errors or lines)[-3:]) or "no output")


def bandwidths(build, threads, sizes):
    out = subprocess.run([os.path.join(build, "bench", "bench_bandwidth"), str(threads)] + [str(s) for s in sizes],
                         capture_output=True, text=True, check=True).stdout
    return {int(m.group(1)): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^BW (\d+) ([\d.]+) ([\d.]+)$", out, re.M)}


def bound_ms(phases, bw, size=None):
    """Time to read each phase's weights once per step at the bandwidth of its size (or of `size`)."""
    return sum(b * steps / (bw[size or b][0] * 1e9) * 1e3 for b, steps in phases)


def machine():
    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    m = re.search(r"^Model name:\s*(.+)$", model, re.M)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return "%s, %d cores, load average %s" % (m.group(1) if m else "?", os.cpu_count(), load)


def fmt_ms(r):
    return "%.2f" % r[0] if isinstance(r, list) else "error"


def imported_side(row, args, d, env):
    """The row's ONNX export through `attnc import` and the JIT."""
    base = os.path.join(d, "imported")
    p = subprocess.run([os.path.join(args.build, "attnc"), "import", os.path.join(d, "model.onnx"), "-o", base],
                       cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode != 0:
        return "attnc import: %s" % " | ".join(p.stderr.strip().splitlines()[-2:])
    return side([os.path.join(args.build, "bench", "bench_compare_attn"), base + ".attn", "forward",
                 base + ".safetensors", os.path.join(d, "inputs.safetensors"), os.path.join(d, "expected.safetensors"),
                 str(args.threads), str(args.repeats)], env)


def run_row(i, row, args, d):
    export_error = compare_prepare.prepare(row, i, d)
    cmd = [os.path.join(args.build, "bench", "bench_compare_attn"), row.model, row.entry,
           os.path.join(d, "weights.safetensors"), os.path.join(d, "attn_inputs.safetensors"),
           os.path.join(d, "expected.safetensors"), str(args.threads), str(args.repeats), "-I", "models"]
    cmd += ["%s=%s" % kv for kv in row.hp.items()]
    env = peer_env(args.threads)
    torch_cmd = [sys.executable, os.path.join(HERE, "compare_torch.py"), row.name, d, str(args.threads),
                 str(args.repeats)]
    res = {"attn": side(cmd, env),
           "torch": side(torch_cmd, env),
           "ort": export_error or side(["node", os.path.join(HERE, "compare_ort.js"), os.path.join(d, "ort.json"),
                                        str(args.threads), str(args.repeats)], env)}
    if args.weights_dtype == "bf16":  # the bf16 columns: attn's, and PyTorch's autocast
        res["attn_low"] = side(cmd + ["--weights-dtype", args.weights_dtype], env)
        res["torch_low"] = side(torch_cmd + [args.weights_dtype], env)
    if row.imported:
        res["import"] = export_error or imported_side(row, args, d, env)
    for name, r in res.items():
        if isinstance(r, str):
            print("  %-22s %s: ERROR %s" % (row.name, name, r), flush=True)
        else:
            extra = " compile %.0f ms" % r[4] if name == "attn" else ""
            print("  %-22s %-6s %9.2f ms  rss +%.1f MB  max|diff vs PyTorch| %.2e  tokens differing %d%s"
                  % (row.name, name, r[0], r[1], r[2], r[3], extra), flush=True)
    return res


def check_note(res):
    """'' when attn's and ORT's outputs match PyTorch's, else a loud note."""
    notes = []
    for name in ("attn", "ort", "import"):
        r = res.get(name)
        if isinstance(r, list) and (not r[2] <= DIFF_LIMIT or r[3] > 0):
            notes.append("**%s OUTPUT DIFFERS: max %.1e, %d tokens**" % (name, r[2], r[3]))
    return "; ".join(notes)


def low_table(results, args):
    """attn and PyTorch in low precision beside attn's f32 column."""
    d = args.weights_dtype
    print("\n| row | attn f32 ms | attn %s ms | PyTorch %s autocast ms | PyTorch %s / attn %s | attn %s / f32 "
          "| max abs diff vs PyTorch f32: attn %s / PyTorch %s | notes |" % (d, d, d, d, d, d, d))
    print("|---|---|---|---|---|---|---|---|")
    for row, res in results:
        a, lo, pt = res["attn"], res["attn_low"], res["torch_low"]
        ok = isinstance(lo, list)
        ratio = "%.2fx" % (pt[0] / lo[0]) if ok and isinstance(pt, list) else ""
        speed = "%.2fx" % (a[0] / lo[0]) if ok and isinstance(a, list) else ""
        diff = " / ".join("%.1e%s" % (r[2], ", %d ints differ" % r[3] if r[3] else "") if isinstance(r, list)
                          else "error" for r in (lo, pt))
        notes = ["%s: %s" % (s, res[s]) for s in ("attn_low", "torch_low") if isinstance(res[s], str)]
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (row.name, fmt_ms(a), fmt_ms(lo), fmt_ms(pt), ratio,
                                                           speed, diff, "; ".join(notes).replace("|", "/")))


def table(results, bw, args):
    print("\n| row | attn ms | PyTorch ms | ORT ms | best peer / attn | max abs diff attn vs PyTorch "
          "| bound ms (cache / DRAM BW) | peak RSS growth MB (attn / PyTorch / ORT) | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row, res in results:
        a, peers = res["attn"], [res[s][0] for s in ("torch", "ort") if isinstance(res[s], list)]
        ratio = "%.2fx" % (min(peers) / a[0]) if isinstance(a, list) and peers else ""
        diff = ("%.1e" % a[2] + (", %d tokens differ" % a[3] if a[3] else "")) if isinstance(a, list) else ""
        bound = "%.2f / %.2f" % (bound_ms(row.bound, bw), bound_ms(row.bound, bw, DRAM_BYTES)) if row.bound else ""
        rss = " / ".join("%.0f" % res[s][1] if isinstance(res[s], list) else "error"
                         for s in ("attn", "torch", "ort")) if row.memory else ""
        notes = [check_note(res), row.onnx_note] + ["%s: %s" % (s, res[s]) for s in ("attn", "torch", "ort")
                                                     if isinstance(res[s], str)]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row.name, fmt_ms(a), fmt_ms(res["torch"]), fmt_ms(res["ort"]), ratio, diff, bound, rss,
            "; ".join(n for n in notes if n).replace("|", "/")))
    imported = [(row, res) for row, res in results if "import" in res]
    if imported:
        print("\nThe same .onnx file through `attnc import` + JIT and through ORT, beside the zoo model:\n")
        print("| row | attn imported ms | attn zoo ms | ORT ms | imported / zoo | ORT / imported "
              "| max abs diff imported vs PyTorch | notes |")
        print("|---|---|---|---|---|---|---|---|")
        for row, res in imported:
            im, zoo, ort = res["import"], res["attn"], res["ort"]
            both = isinstance(im, list)
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row.name, fmt_ms(im), fmt_ms(zoo), fmt_ms(ort),
                "%.2f" % (im[0] / zoo[0]) if both and isinstance(zoo, list) else "",
                "%.2fx" % (ort[0] / im[0]) if both and isinstance(ort, list) else "",
                "%.1e" % im[2] if both else "", "" if both else str(im).replace("|", "/")))
    sizes = sorted(bw)
    print("\nread bandwidth (bench_bandwidth, %d threads, best / median of 11 rounds; bounds use the best): %s" % (
        args.threads, ", ".join("%.1f MB: %.1f / %.1f GB/s" % (s / 1e6, bw[s][0], bw[s][1]) for s in sizes)))


def int8_spec(d):
    """ort_int8.json beside ort.json: the same spec on the int8-rewritten export(s)."""
    with open(os.path.join(d, "ort.json")) as f:
        spec = json.load(f)
    for key in ("onnx", "encoder", "step"):
        if key in spec:
            out = spec[key][:-len(".onnx")] + "_int8.onnx"
            compare_quant_onnx.quantize(spec[key], out)
            spec[key] = out
    path = os.path.join(d, "ort_int8.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def run_row_int8(row, args, d, export_error):
    """The int8 sides of one prepared row."""
    cmd = [os.path.join(args.build, "bench", "bench_compare_attn"), row.model, row.entry,
           os.path.join(d, "weights.safetensors"), os.path.join(d, "attn_inputs.safetensors"),
           os.path.join(d, "expected.safetensors"), str(args.threads), str(args.repeats), "-I", "models",
           "--weights-dtype", "int8"]
    cmd += ["%s=%s" % kv for kv in row.hp.items()]
    env = peer_env(args.threads)
    try:
        spec = export_error or int8_spec(d)
    except Exception as e:  # the other int8 sides still run
        spec = "int8 rewrite failed: %s" % str(e).strip().splitlines()[0]
    res = {"attn": side(cmd, env),
           "torch": side([sys.executable, os.path.join(HERE, "compare_torch.py"), row.name, d,
                          str(args.threads), str(args.repeats), "int8"], env),
           "ort": spec if not spec.endswith(".json") else
           side(["node", os.path.join(HERE, "compare_ort.js"), spec, str(args.threads), str(args.repeats)], env)}
    for name, r in res.items():
        if isinstance(r, str):
            print("  %-22s %s int8: ERROR %s" % (row.name, name, r), flush=True)
        else:
            print("  %-22s %-5s int8 %9.2f ms  max|diff vs PyTorch fp32| %.2e  mean cosine %.7f  tokens differing %d"
                  % (row.name, name, r[0], r[2], r[-1], r[3]), flush=True)
    return res


# An int8 side whose outputs are within fp32 rounding of PyTorch's fp32 ones
# quantized nothing (int8 products are off by 1e-4 or more on every row).
UNQUANTIZED_DIFF = 1e-5


def unquantized(q, side_name):
    r = q[side_name]
    return isinstance(r, list) and r[2] <= UNQUANTIZED_DIFF and not r[3]


def int8_notes(q):
    """Which int8 sides ran in fp32: they are left out of the best-peer ratio."""
    if unquantized(q, "attn"):
        return ["no constant weights: no side quantizes anything"]
    names = {"torch": "PyTorch's quantize_dynamic", "ort": "ORT's int8 rewrite"}
    return ["%s quantized nothing here (fp32 times)" % names[s] for s in ("torch", "ort") if unquantized(q, s)]


def table_int8(results):
    print("\n| row | attn int8 ms | PyTorch int8 dyn ms | ORT int8 ms | best int8 peer / attn int8 "
          "| attn fp32 / attn int8 | max abs diff, mean cosine vs fp32 (attn / PyTorch / ORT) | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for row, res, q in results:
        a, peers = q["attn"], [q[s][0] for s in ("torch", "ort") if isinstance(q[s], list) and not unquantized(q, s)]
        ratio = "%.2fx" % (min(peers) / a[0]) if isinstance(a, list) and peers else ""
        speedup = "%.2fx" % (res["attn"][0] / a[0]) if isinstance(a, list) and isinstance(res["attn"], list) else ""
        diff = " / ".join(("%.1e, %.6f" % (q[s][2], q[s][-1]) + (" (%d tokens)" % q[s][3] if q[s][3] else ""))
                          if isinstance(q[s], list) else "error" for s in ("attn", "torch", "ort"))
        notes = ["%s: %s" % (s, q[s]) for s in ("attn", "torch", "ort") if isinstance(q[s], str)] + int8_notes(q)
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row.name, fmt_ms(a), fmt_ms(q["torch"]), fmt_ms(q["ort"]), ratio, speedup, diff,
            "; ".join(notes).replace("|", "/")))


def main():
    ap = argparse.ArgumentParser(description="attn vs PyTorch vs ONNX Runtime")
    ap.add_argument("--build", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--rows", default="", help="comma-separated substrings of row names (default: all)")
    ap.add_argument("--keep", default="", help="write the generated files here and keep them")
    ap.add_argument("--weights-dtype", default="f32", choices=["f32", "bf16", "int8"],
                    help="bf16: attn's bf16 column and PyTorch's autocast; int8: the int8 columns of every side")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    rows = [(i, r) for i, r in enumerate(compare_rows.ROWS)
            if not args.rows or any(s and s in r.name for s in args.rows.split(","))]
    print("machine: %s" % machine())
    print("threads %d, median of %d runs after 3 warm-up runs; torch %s (OMP_WAIT_POLICY=PASSIVE), "
          "onnxruntime-node %s, OPENBLAS_CORETYPE unset" % (args.threads, args.repeats, torch.__version__,
                                                            ort_version()), flush=True)
    sizes = sorted({b for _, r in rows if r.bound for b, _ in r.bound} | {DRAM_BYTES})
    bw = bandwidths(args.build, args.threads, sizes)
    top = args.keep or tempfile.mkdtemp(prefix="attn_compare.")
    results, quantized = [], []
    try:
        for i, row in rows:
            d = os.path.join(top, "row%02d" % i)
            results.append((row, run_row(i, row, args, d)))
            if args.weights_dtype == "int8":
                res = results[-1][1]
                failed = res["ort"] if isinstance(res["ort"], str) and res["ort"].startswith("ONNX export") else ""
                quantized.append((row, res, run_row_int8(row, args, d, failed)))
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    table(results, bw, args)
    if args.weights_dtype == "bf16":
        low_table(results, args)
    if quantized:
        table_int8(quantized)
    print("\nload average after the run: %s" % machine().rsplit("load average ", 1)[1])


def ort_version():
    try:
        with open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")) as f:
            return json.load(f)["version"]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
