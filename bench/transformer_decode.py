"""Greedy decoding with an encoder-decoder Transformer: attn's models/transformer.attn
with key/value caches, PyTorch re-running the whole prefix each step (the usual
nn.Transformer loop), and ONNX Runtime running an exported cached decoder step
and the exported full-prefix decoder. Reports the time per generated token as
the prefix grows.

    /usr/bin/python3 bench/transformer_decode.py --build DIR [--threads T] [--repeats R]
                     [--steps N] [--batch B] [--src-len S] [--keep DIR]

The model is tests/golden/gen.py's Seq2SeqTransformer (the module stated in
models/transformer.attn's header): 6+6 layers, d_model 512, 8 heads,
dim_feedforward 2048, vocabularies of 8000, PyTorch's initialisation (random
weights). Each side runs in its own process with T threads: one warm-up decode,
then R timed decodes of N tokens; every step's time is the median over the R
decodes. Steps are grouped into ranges of the prefix (tokens 1-16, 17-32,
33-64, ...) and each range reports its mean per-token time. Tokens are compared
with PyTorch's.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

# PyTorch runs in this process: its OpenMP threads must not spin while they wait
# (on a busy machine that starves them), and OpenBLAS picks its own kernels.
if os.environ.get("OMP_WAIT_POLICY") != "PASSIVE" or "OPENBLAS_CORETYPE" in os.environ:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    env.pop("OPENBLAS_CORETYPE", None)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
from gen import Seq2SeqTransformer, write_safetensors  # noqa: E402

HP = dict(vocab_src=8000, vocab_tgt=8000, d_model=512, nhead=8, num_encoder_layers=6,
          num_decoder_layers=6, dim_feedforward=2048)
TIMEOUT_S = 1800


class Encode(nn.Module):
    """src, src_mask -> memory and every decoder layer's cross-attention keys/values."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, src, src_mask):
        memory = self.m.encode(src, src_mask)
        keys, values = self.m.memory_keys_values(memory)
        return memory, keys, values


class FullPrefix(nn.Module):
    """The usual step: the prefix ys [B, T] again -> the last position's logits."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ys, memory, src_mask):
        return self.m.next_logits(ys, memory, src_mask)


class CachedStep(nn.Module):
    """decode_step of models/transformer.attn in PyTorch (post-norm layers), for the export:
    token [B], memory keys/values and self-attention caches [N, B, H, T, dh]."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def attend(self, q, k, v, mask):
        scores = q @ k.transpose(-1, -2) / (q.shape[-1] ** 0.5)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        ctx = torch.softmax(scores, dim=-1) @ v
        B, H, L, dh = ctx.shape
        return ctx.permute(0, 2, 1, 3).reshape(B, L, H * dh)

    def forward(self, token, memory_keys, memory_values, src_mask, self_keys, self_values):
        m = self.m
        T = self_keys.shape[3]
        x = (m.tgt_tok_emb(token) + m.pos_embedding[T])[:, None]
        mem_mask = src_mask[:, None, None, :]
        ks, vs = [], []
        for l, layer in enumerate(m.decoder.layers):
            sa = layer.self_attn
            k = torch.cat([self_keys[l], m.projection(sa, x, 1)], dim=2)
            v = torch.cat([self_values[l], m.projection(sa, x, 2)], dim=2)
            x = layer.norm1(x + sa.out_proj(self.attend(m.projection(sa, x, 0), k, v, None)))
            ca = layer.multihead_attn
            x = layer.norm2(x + ca.out_proj(self.attend(m.projection(ca, x, 0), memory_keys[l], memory_values[l],
                                                        mem_mask)))
            x = layer.norm3(x + layer.linear2(torch.relu(layer.linear1(x))))
            ks.append(k)
            vs.append(v)
        return m.generator(m.decoder.norm(x)[:, 0]), torch.stack(ks), torch.stack(vs)


def export(module, args, path, inputs, outputs, dynamic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(args), path, opset_version=14, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, do_constant_folding=True)


def prepare(d, batch, src_len):
    """Writes weights, source, the ONNX exports; returns the model, src, src_mask."""
    torch.manual_seed(2026)
    m = Seq2SeqTransformer(**HP, maxlen=1024).float().eval()
    src = torch.randint(2, HP["vocab_src"], (batch, src_len))
    lengths = torch.randint(src_len // 2, src_len + 1, (batch,))
    lengths[0] = src_len
    src_mask = torch.arange(src_len)[None, :] >= lengths[:, None]
    src = src.masked_fill(src_mask, 0)
    write_safetensors(os.path.join(d, "weights.safetensors"), list(m.state_dict().items()))
    write_safetensors(os.path.join(d, "inputs.safetensors"), [("src", src), ("src_mask", src_mask)])
    errors = {}
    with torch.no_grad():
        memory, mk, mv = Encode(m)(src, src_mask)
    b, s = {0: "B"}, {0: "B", 1: "S"}
    try:
        export(Encode(m), [src, src_mask], os.path.join(d, "encode.onnx"), ["src", "src_mask"],
               ["memory", "memory_keys", "memory_values"],
               {"src": s, "src_mask": s, "memory": s, "memory_keys": {1: "B", 3: "S"},
                "memory_values": {1: "B", 3: "S"}})
        ys = torch.ones(batch, 3, dtype=torch.int64)
        export(FullPrefix(m), [ys, memory, src_mask], os.path.join(d, "full_prefix.onnx"),
               ["ys", "memory", "src_mask"], ["logits"], {"ys": {0: "B", 1: "T"}, "memory": s, "src_mask": s})
        cache = {1: "B", 3: "T"}
        past = torch.zeros(HP["num_decoder_layers"], batch, HP["nhead"], 3, HP["d_model"] // HP["nhead"])
        export(CachedStep(m), [ys[:, 0], mk, mv, src_mask, past, past], os.path.join(d, "cached_step.onnx"),
               ["token", "memory_keys", "memory_values", "src_mask", "self_keys", "self_values"],
               ["logits", "new_self_keys", "new_self_values"],
               {"token": b, "memory_keys": {1: "B", 3: "S"}, "memory_values": {1: "B", 3: "S"}, "src_mask": s,
                "self_keys": cache, "self_values": cache, "new_self_keys": {1: "B", 3: "T1"},
                "new_self_values": {1: "B", 3: "T1"}})
    except Exception as e:  # the other sides still run
        errors["ort"] = "ONNX export failed: %s" % str(e).strip().splitlines()[0]
    return m, src, src_mask, errors


def pytorch_side(m, src, src_mask, steps, repeats):
    """The usual loop: every step re-runs the decoder over the whole prefix."""
    times = [[] for _ in range(steps)]
    tokens = None
    with torch.inference_mode():
        for r in range(repeats + 1):  # the first decode is the warm-up
            memory = m.encode(src, src_mask)
            ys = torch.full((src.shape[0], 1), 1, dtype=torch.int64)
            for t in range(steps):
                t0 = time_ms()
                logits = m.next_logits(ys, memory, src_mask)
                ys = torch.cat([ys, logits.argmax(dim=-1)[:, None]], dim=1)
                if r > 0:
                    times[t].append(time_ms() - t0)
            tokens = ys[:, 1:]
    return [median(ts) for ts in times], tokens.tolist()


def time_ms():
    return time.perf_counter() * 1e3


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def parse_steps(out):
    steps, tokens, extra = [], {}, {}
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "STEP":
            steps.append(float(f[2]))
        elif f[0] == "TOKENS":
            tokens[int(f[1])] = [int(x) for x in f[2:]]
        elif len(f) == 2:
            extra[f[0]] = f[1]
    return steps, [tokens[b] for b in sorted(tokens)], extra


def run_side(cmd, env):
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode:
        lines = [ln for ln in (p.stderr + p.stdout).strip().splitlines() if ln.strip()]
        return "exit %d: %s" % (p.returncode, " | ".join(lines[-3:]))
    return parse_steps(p.stdout)


def ranges(steps):
    out, lo = [], 1
    while lo <= steps:
        hi = min(steps, 16 if lo == 1 else 2 * (lo - 1))
        out.append((lo, hi))
        lo = hi + 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--src-len", type=int, default=32)
    ap.add_argument("--keep", help="keep the weights and exports in this directory")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    env.pop("OPENBLAS_CORETYPE", None)
    d = args.keep or tempfile.mkdtemp(prefix="attn_tf_decode_")
    os.makedirs(d, exist_ok=True)
    m, src, src_mask, errors = prepare(d, args.batch, args.src_len)

    results = {}
    hp = ["%s=%d" % (k, v) for k, v in HP.items()]
    attn = run_side([os.path.join(args.build, "bench", "bench_transformer_decode"), "models/transformer.attn",
                     os.path.join(d, "weights.safetensors"), os.path.join(d, "inputs.safetensors"),
                     str(args.threads), str(args.repeats), str(args.steps)] + hp, env)
    results["attn (decode_step, cached)"] = attn
    results["PyTorch (full prefix per step)"] = pytorch_side(m, src, src_mask, args.steps, args.repeats)
    for mode, label in (("cached", "ORT (exported cached step)"), ("full", "ORT (exported full-prefix decoder)")):
        results[label] = errors.get("ort") or run_side(
            ["node", os.path.join(HERE, "transformer_decode_ort.js"), d, mode, str(args.threads),
             str(args.repeats), str(args.steps)], env)

    ref_tokens = results["PyTorch (full prefix per step)"][1]
    cpu = [ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True)
           .stdout.splitlines() if ln.startswith("Model name")]
    print("Transformer greedy decoding: 6+6 layers, d_model 512, 8 heads, ff 2048, vocab 8000, batch %d, "
          "source %d, %d tokens; %d threads, per-step medians of %d decodes after 1 warm-up; %s; torch %s"
          % (args.batch, args.src_len, args.steps, args.threads, args.repeats, cpu[0] if cpu else "?",
             torch.__version__))
    rs = ranges(args.steps)
    print("\n| | " + " | ".join("tokens %d-%d" % r for r in rs) + " | all %d tokens | tokens = PyTorch's |" % args.steps)
    print("|---|" + "---:|" * (len(rs) + 2))
    base = None
    for label, res in results.items():
        if isinstance(res, str):
            print("| %s | %s |" % (label, res))
            continue
        steps, tokens = res[0], res[1]
        per = [sum(steps[lo - 1:hi]) / (hi - lo + 1) for lo, hi in rs]
        total = sum(steps)
        if base is None:
            base = (per, total)
        cells = ["%.2f ms" % p + ("" if p is base[0][i] else " (%.1fx)" % (p / base[0][i])) for i, p in
                 enumerate(per)]
        same = "yes" if tokens == ref_tokens else "no"
        print("| %s | %s | %.1f ms%s | %s |" % (label, " | ".join(cells), total,
                                                "" if total is base[1] else " (%.1fx)" % (total / base[1]), same))
    if not isinstance(attn, str):
        print("\nattn: encode %s ms; the `greedy` entry (encode + %d steps in one scan) %s ms; "
              "decode_step tokens = greedy's: %s" % (attn[2].get("ENCODE"), args.steps, attn[2].get("GREEDY"),
                                                     attn[2].get("SAME_AS_GREEDY")))
    print("(ratios: time / attn's time)")
    json.dump({k: v if isinstance(v, str) else v[0] for k, v in results.items()},
              open(os.path.join(d, "steps.json"), "w"))


if __name__ == "__main__":
    main()
