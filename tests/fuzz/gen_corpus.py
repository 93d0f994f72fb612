#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

    python3 tests/fuzz/gen_corpus.py      (from anywhere; standard library only)

corpus/source/       every zoo model, preceded by "#set NAME=VALUE" lines with
                     the hyperparameters of its first golden case (fuzz_source
                     applies them); the std library files; the bad inputs of
                     tests/errors/cases/; hand-made edge cases (EDGE_SOURCES).
corpus/safetensors/  golden fixture files of a few cases, and hand-made files:
                     every dtype, empty and rank-0 tensors, rank 8, metadata,
                     unaligned offsets, non-finite and out-of-range values.
corpus/inputs/       the golden inputs of the models fuzz_inputs compiles
                     (bahdanau, gru_l1) and hand-made inputs of its OPS_SRC
                     program, valid ones and ones that its run must refuse.

The files are committed; rerun this after changing the sources it copies and
commit the result. Inputs the fuzzers add while running go to
build-fuzz/work/TARGET/corpus/ (see .ci/fuzz), never here.
"""
import json
import os
import shutil
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "tests", "golden", "fixtures")


def write(target, name, data):
    path = os.path.join(OUT, target, name)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def safetensors(tensors, metadata=None, align=True):
    """tensors: list of (name, dtype, shape, raw bytes) -> file bytes."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if align:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def i64(*v):
    return struct.pack("<%dq" % len(v), *v)


def i32(*v):
    return struct.pack("<%di" % len(v), *v)


def golden_cases():
    cases = []
    for manifest in ("cases.txt", "cases_zoo2.txt"):
        path = os.path.join(ROOT, "tests", "golden", manifest)
        if not os.path.exists(path):
            continue
        for line in open(path):
            if line.strip() and not line.startswith("#"):
                cases.append(line.split())
    return cases


# ---- sources -----------------------------------------------------------------

EDGE_SOURCES = {
    "empty_entry.attn": "entry f() -> y { return arange(3) }\n",
    "scan_nested.attn": (
        "entry f(x: f32[B, T, 3]) -> (ys, h) {\n"
        "  ys, h = scan(x_t in x, h = zeros([B, 3]), axis = 1) {\n"
        "    inner = scan(v in x_t, s = zeros([3]), axis = 0) { s = s + v }\n"
        "    h = tanh(h + x_t) * 0.5 + unsqueeze(inner, 0)\n"
        "    yield h\n"
        "  }\n"
        "  return ys, h\n"
        "}\n"),
    "hypers_all.attn": (
        "hyper n: int = 2\nhyper e: float = 1e-5\nhyper b: bool = true\n"
        "hyper act: enum(relu, gelu) = gelu\n"
        "let D = where(b, 2, 1)\n"
        "def act_fn(x) { if act == relu { return relu(x) } else { return gelu(x) } }\n"
        "entry f(x: f32[B, 4]) -> y {\n"
        "  for i in 0..n * D { x = act_fn(x) + e }\n"
        "  return layer_norm(x, eps = e)\n"
        "}\n"),
    "shapes.attn": (
        "entry f(x: f32[B, T, 8], m: bool[B, T]) -> (a, b, c, d) {\n"
        "  q, k = split(x, 2)\n"
        "  s = q @ k.T / sqrt(4)\n"
        "  a = softmax(masked_fill(s, unsqueeze(m, 1), -inf))\n"
        "  b = permute(reshape(x, [B, T, 2, 4]), [0, 2, 1, 3])\n"
        "  c = stack(sum(x, axis=1), max(x, axis=1), mean(x, axis=1))\n"
        "  d = concat(x[:, 0], x[:, -1], x[:, ::2][:, 0], axis = -1)\n"
        "  return a, b, c, d\n"
        "}\n"),
    "params.attn": (
        "hyper H: int\n"
        "def lin(x, n) { param w: f32[n, x.shape[-1]] = \"weight\"\n  param b: f32[n] = \"bias\"\n"
        "  return x @ w.T + b }\n"
        "entry f(x: f32[B, 4]) -> y { scope \"l0\" { y = lin(x, H) }\n  return relu(y) }\n"),
    "casts.attn": (
        "entry f(x: f32[N], i: i32[N], l: i64[N]) -> (a, b, c, d) {\n"
        "  return i64(x), f32(i) + f32(l), bool(l), where(x > 0.0, i32(l), i)\n"
        "}\n"),
    "masks.attn": (
        "entry f(lengths: i64[B], x: f32[B, S]) -> (y, z) {\n"
        "  y = masked_fill(x, length_mask(lengths, S), 0.0)\n"
        "  z = where(causal_mask(S, S), full([S, S], 1.5), ones([S, S]))\n"
        "  return y, z\n"
        "}\n"),
    "recursion.attn": "def f(n) { if n == 0 { return 0 } else { return f(n - 1) + 1 } }\n"
                      "entry g(x: f32[2]) -> y { return x + f(10) }\n",
    "deep_parens.attn": "entry f(x: f32[2]) -> y { return " + "(" * 60 + "x" + ")" * 60 + " }\n",
    "unicode.attn": "# \u00e9\u00e8 \u221a\u1d40\nentry f(x: f32[2]) -> y { return x } # \u2603\n",
    "crlf.attn": "entry f(x: f32[2]) -> y {\r\n  return x\r\n}\r\n",
    "imports.attn": "import \"std/nn.attn\"\nimport \"std/rnn.attn\"\nimport \"std/nn.attn\"\n"
                    "import \"std/attention.attn\"\nimport \"std/transformer.attn\"\n"
                    "entry f(x: f32[B, 4]) -> y { return masked_softmax(x, x > 0.0) }\n",
    "settings.attn": "#set n=3\n#set act=relu\n#set e=0.5\n"
                     "hyper n: int\nhyper act: enum(relu, gelu)\nhyper e: float\n"
                     "entry f(x: f32[n]) -> y { return x * e }\n",
}


def gen_sources():
    seen = set()
    for case in golden_cases():
        model, sets = case[1], case[3]
        if model in seen:
            continue
        seen.add(model)
        text = "".join("#set %s\n" % s for s in sets.split(",") if sets != "-")
        text += open(os.path.join(ROOT, model)).read()
        write("source", "zoo_" + os.path.basename(model), text)
    for name in sorted(os.listdir(os.path.join(ROOT, "models"))):
        if name.endswith(".attn") and "models/" + name not in seen:
            write("source", "zoo_" + name, open(os.path.join(ROOT, "models", name)).read())
    std = os.path.join(ROOT, "models", "std")
    for name in sorted(os.listdir(std)):
        if name.endswith(".attn"):
            write("source", "std_" + name, open(os.path.join(std, name)).read())
    cases = os.path.join(ROOT, "tests", "errors", "cases")
    for name in sorted(os.listdir(cases)):
        if name.endswith(".attn"):
            write("source", "err_" + name, open(os.path.join(cases, name), "rb").read())
    for name, text in EDGE_SOURCES.items():
        write("source", "edge_" + name, text)


# ---- safetensors files -------------------------------------------------------

def gen_safetensors():
    for case in ("bahdanau", "gru_l1", "mha_self", "lstm_l2_bidir", "s2s_greedy", "ssa"):
        for kind in ("weights", "inputs", "expected"):
            path = os.path.join(FIXTURES, case, kind + ".safetensors")
            if os.path.exists(path):
                shutil.copy(path, os.path.join(OUT, "safetensors", "fx_%s_%s.safetensors" % (case, kind)))
    all_dtypes = [
        ("bool", "BOOL", [3], bytes([0, 1, 1])),
        ("u8", "U8", [2], bytes([0, 255])),
        ("i8", "I8", [2], struct.pack("<2b", -128, 127)),
        ("i16", "I16", [2], struct.pack("<2h", -32768, 32767)),
        ("u16", "U16", [2], struct.pack("<2H", 0, 65535)),
        ("f16", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x7E00)),
        ("bf16", "BF16", [3], struct.pack("<3H", 0x3F80, 0xFF80, 0x7FC0)),
        ("i32", "I32", [2], i32(-2**31, 2**31 - 1)),
        ("u32", "U32", [2], struct.pack("<2I", 0, 2**32 - 1)),
        ("f32", "F32", [2, 2], f32(1.0, -0.0, float("inf"), float("nan"))),
        ("f64", "F64", [3], struct.pack("<3d", 1e300, -1e-300, float("nan"))),
        ("i64", "I64", [2], i64(-2**63, 2**63 - 1)),
        ("u64", "U64", [2], struct.pack("<2Q", 0, 2**64 - 1)),
    ]
    write("safetensors", "all_dtypes.safetensors", safetensors(all_dtypes))
    write("safetensors", "metadata.safetensors",
          safetensors([("w", "F32", [2], f32(1, 2))], metadata={"format": "pt", "note": "\u00e9\\u0041"}))
    write("safetensors", "empty_and_scalar.safetensors",
          safetensors([("e", "F32", [0, 4], b""), ("z", "I64", [3, 0], b""), ("s", "F32", [], f32(3.5))]))
    write("safetensors", "rank8.safetensors", safetensors([("r", "U8", [1, 2, 1, 2, 1, 2, 1, 2], bytes(16))]))
    write("safetensors", "unaligned.safetensors",
          safetensors([("a", "U8", [3], bytes([1, 2, 3])), ("b", "F64", [1], struct.pack("<d", 2.5)),
                       ("c", "I32", [1], i32(7))], align=False))
    write("safetensors", "no_tensors.safetensors", safetensors([]))
    write("safetensors", "i64_for_i32.safetensors", safetensors([("big", "I64", [2], i64(2**31, -2**31 - 1))]))
    write("safetensors", "bool_bad.safetensors", safetensors([("m", "BOOL", [2], bytes([0, 2]))]))
    hdr = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    write("safetensors", "duplicate_key.safetensors", struct.pack("<Q", len(hdr)) + hdr + f32(1, 2))
    write("safetensors", "short.safetensors", b"\x10\x00\x00\x00")
    write("safetensors", "huge_length.safetensors", struct.pack("<Q", 2**63) + b"{}")


# ---- inputs --------------------------------------------------------------------

def ops_inputs(b, t, v, e, ids=None, lengths=None, ids_dtype="I64"):
    ids = ids if ids is not None else [(k * 7 + 3) % max(v, 1) for k in range(b * t)]
    lengths = lengths if lengths is not None else [max(t - k, 0) for k in range(b)]
    pack = i64 if ids_dtype == "I64" else i32
    return safetensors([
        ("ids", ids_dtype, [b, t], pack(*ids)),
        ("table", "F32", [v, e], f32(*[(k % 5) * 0.25 - 0.5 for k in range(v * e)])),
        ("lengths", "I64", [b], i64(*lengths)),
        ("x", "F32", [b, t, e], f32(*[(k % 7) * 0.1 - 0.3 for k in range(b * t * e)])),
    ])


def gen_inputs():
    for case in ("bahdanau", "bahdanau_nopad", "gru_l1", "gru_l3"):
        shutil.copy(os.path.join(FIXTURES, case, "inputs.safetensors"),
                    os.path.join(OUT, "inputs", "fx_%s.safetensors" % case))
    write("inputs", "ops_2x3.safetensors", ops_inputs(2, 3, 5, 4))
    write("inputs", "ops_1x1.safetensors", ops_inputs(1, 1, 1, 1))
    write("inputs", "ops_t0.safetensors", ops_inputs(2, 0, 3, 2))
    write("inputs", "ops_b0.safetensors", ops_inputs(0, 4, 3, 2))
    write("inputs", "ops_i32_ids.safetensors", ops_inputs(2, 2, 4, 3, ids_dtype="I32"))
    write("inputs", "ops_bad_id.safetensors", ops_inputs(1, 3, 4, 2, ids=[0, 4, -1]))
    write("inputs", "ops_all_masked.safetensors", ops_inputs(2, 3, 4, 2, lengths=[0, 0]))
    write("inputs", "ops_long_lengths.safetensors", ops_inputs(2, 3, 4, 2, lengths=[2**62, -5]))


def main():
    for target in ("source", "safetensors", "inputs"):
        d = os.path.join(OUT, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    gen_sources()
    gen_safetensors()
    gen_inputs()
    for target in ("source", "safetensors", "inputs"):
        print("%s: %d files" % (target, len(os.listdir(os.path.join(OUT, target)))))


if __name__ == "__main__":
    main()
