"""Runs the ONNX conformance suite (Debian's libonnx-testdata) through attn.

Each case of DATA/node/*/ is a model.onnx with test_data_set_0/input_N.pb and
output_N.pb. A case is in scope when every op of its graph is one the
importer handles (attn.onnx_ops()) and every input and output is float32,
int64 or bool. In-scope cases are imported (the inputs' values are also given to
the importer, which folds those the model needs at compile time: a Reshape's
shape, a Range's bounds; every other input stays an input), compiled for the JIT and the interpreter, run, and compared with the
expected outputs at rtol 1e-3, atol 1e-7 (NaN where NaN is expected; integer
and bool outputs exactly). The outcome of every case goes to --json; the run
fails when an in-scope case fails that tests/onnx/expected_failures.txt does
not list (with its reason), or when a listed case passes.

Usage: python3 conformance.py [--data DIR] [--json OUT] [--only SUBSTRING]
"""

import argparse
import json
import os
import sys
import traceback

import numpy as np

DEFAULT_DATA = "/usr/share/libonnx-testdata/data"
SCOPE_DTYPES = {np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_)}
RTOL, ATOL = 1e-3, 1e-7
HERE = os.path.dirname(os.path.abspath(__file__))


def read_expected_failures():
    out = {}
    path = os.path.join(HERE, "expected_failures.txt")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def primary_op(case, ops, all_ops):
    """The op a case tests: its only op, else the op its name starts with
    (test_layer_normalization_3d_expanded: LayerNormalization)."""
    distinct = sorted(set(ops))
    if len(distinct) == 1:
        return distinct[0]
    name = case[len("test_"):].replace("_", "").lower()
    best = ""
    for op in all_ops:
        if name.startswith(op.lower()) and len(op) > len(best):
            best = op
    return best or "+".join(distinct) or "?"


def load_case(onnx, numpy_helper, d):
    model = onnx.load(os.path.join(d, "model.onnx"))
    ds = os.path.join(d, "test_data_set_0")
    inputs, outputs = [], []
    for kind, dest in (("input", inputs), ("output", outputs)):
        i = 0
        while os.path.exists(os.path.join(ds, f"{kind}_{i}.pb")):
            t = onnx.TensorProto()
            with open(os.path.join(ds, f"{kind}_{i}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            dest.append((t.name, numpy_helper.to_array(t)))
            i += 1
    return model, inputs, outputs


def compare(got, want):
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, expected {list(want.shape)}"
    if want.dtype != np.float32:
        if got.dtype != want.dtype and not (want.dtype == np.int64 and got.dtype == np.int64):
            return f"dtype {got.dtype}, expected {want.dtype}"
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        return f"{bad.size} elements differ (first at {bad[0]})" if bad.size else None
    nan_ok = np.isnan(want) == np.isnan(got)
    close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    if nan_ok.all() and close.all():
        return None
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    i = int(np.nanargmax(np.where(close, 0, diff))) if diff.size else 0
    return f"{int((~close).sum())} of {close.size} elements off (max |diff| {np.nanmax(np.where(close, 0, diff)):.3g} at {i})"


def run_case(attn, d, inputs, outputs):
    known = dict(inputs)  # folded only where the model needs a value at compile time
    imp = attn.import_onnx(os.path.join(d, "model.onnx"), known=known)
    feed = dict(inputs)
    for backend in ("jit", "interp"):
        m = imp.model(name=os.path.basename(d) + ".attn")
        prog = m.compile("forward", backend=backend, threads=1)
        args = {attn_name: feed[onnx_name] for attn_name, onnx_name in zip(prog.inputs, imp.inputs)}
        got = list(prog.run(args).values())
        for (name, want), g in zip(outputs, got):
            why = compare(np.asarray(g), want)
            if why:
                return f"{backend}: output '{name}': {why}"
        m.close()
        prog.close()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--json")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    node_dir = os.path.join(args.data, "node")
    if not os.path.isdir(node_dir):
        print(f"conformance: {node_dir} is absent (Debian: libonnx-testdata); skipped")
        return 77
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        print("conformance: python3-onnx is absent (Debian: python3-onnx); skipped")
        return 77
    sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
    import attn
    supported = set(attn.onnx_ops())
    expected = read_expected_failures()
    loaded = {}
    for case in sorted(os.listdir(node_dir)):
        if args.only and args.only not in case:
            continue
        try:
            loaded[case] = load_case(onnx, numpy_helper, os.path.join(node_dir, case))
        except Exception as e:  # a case the onnx package itself cannot read
            loaded[case] = e
    all_ops = supported | {n.op_type for c in loaded.values() if not isinstance(c, Exception) for n in c[0].graph.node}
    results = {}
    for case, c in loaded.items():
        d = os.path.join(node_dir, case)
        if isinstance(c, Exception):
            results[case] = {"op": primary_op(case, [], all_ops), "status": "out of scope",
                             "reason": f"the onnx package cannot read its test data ({c})"}
            continue
        model, inputs, outputs = c
        ops = [n.op_type for n in model.graph.node]
        op = primary_op(case, ops, all_ops)
        missing = sorted(set(ops) - supported)
        dtypes = sorted({str(a.dtype) for _, a in inputs + outputs if a.dtype not in SCOPE_DTYPES})
        if missing:
            results[case] = {"op": op, "status": "unsupported", "reason": "op " + ", ".join(missing)}
            continue
        if dtypes:
            results[case] = {"op": op, "status": "out of scope", "reason": "dtype " + ", ".join(dtypes)}
            continue
        try:
            why = run_case(attn, d, inputs, outputs)
        except attn.AttnError as e:
            why = str(e).strip().splitlines()[0]
        except Exception as e:  # a failure of this script is a failure of the case
            why = f"{type(e).__name__}: {e} " + traceback.format_exc(limit=1).strip().splitlines()[-1]
        results[case] = {"op": op, "status": "passed" if why is None else "failed", "reason": why or ""}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    unexpected, fixed = [], []
    for case, r in sorted(results.items()):
        if r["status"] == "failed" and case not in expected:
            unexpected.append(f"  {case}: {r['reason']}")
        if r["status"] == "passed" and case in expected:
            fixed.append(f"  {case} (listed: {expected[case]})")
    counts = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("conformance: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if unexpected:
        print("in-scope cases that fail (fix them, or list them with the reason in tests/onnx/expected_failures.txt):")
        print("\n".join(unexpected))
    if fixed:
        print("cases listed as failing that pass (remove them from tests/onnx/expected_failures.txt):")
        print("\n".join(fixed))
    return 1 if unexpected or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
