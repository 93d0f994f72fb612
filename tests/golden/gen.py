#!/usr/bin/python3
"""Generate the golden fixtures for the attn models from PyTorch.

Run with Debian's PyTorch:

    /usr/bin/python3 tests/golden/gen.py          # regenerate everything
    /usr/bin/python3 tests/golden/gen.py --check  # validate the files on disk

Every case is seeded with torch.manual_seed(<fixed per-case seed>) and
computed on the CPU in float32 under torch.inference_mode(), so running the
script twice produces byte-identical files.

For each case it writes tests/golden/fixtures/<case>/{weights,inputs,expected}
.safetensors and finally tests/golden/cases.txt (the manifest).  Safetensors
files are written by hand (no safetensors package on Debian): u64 LE header
length N, N bytes of JSON padded with spaces to a multiple of 8, then the raw
little-endian row-major tensor data, contiguous, in header order.
"""

import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
MANIFEST = os.path.join(HERE, "cases.txt")

MAX_FILE_BYTES = 64 * 1024

# ---------------------------------------------------------------------------
# safetensors writer / reader
# ---------------------------------------------------------------------------

_TORCH_TO_ST = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.float16: ("F16", "<f2"),
    torch.int64: ("I64", "<i8"),
    torch.int32: ("I32", "<i4"),
    torch.int16: ("I16", "<i2"),
    torch.int8: ("I8", "i1"),
    torch.uint8: ("U8", "u1"),
    torch.bool: ("BOOL", "u1"),
}

_ST_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
                "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def write_safetensors(path, tensors):
    """tensors: list of (name, tensor) in the order they are stored."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        if t.dtype not in _TORCH_TO_ST:
            raise TypeError("unsupported dtype %s for %s" % (t.dtype, name))
        st, npdt = _TORCH_TO_ST[t.dtype]
        if t.dtype == torch.bool:
            data = t.to(torch.uint8).numpy().astype(npdt).tobytes()
        else:
            data = t.numpy().astype(npdt).tobytes()
        assert len(data) == t.numel() * _ST_ITEMSIZE[st]
        header[name] = {"dtype": st, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Parse and validate a safetensors file; return {name: tensor} (ordered)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 != 0:
        raise ValueError("%s: header length %d not a multiple of 8" % (path, n))
    if 8 + n > len(raw):
        raise ValueError("%s: header runs past end of file" % path)
    hbytes = raw[8:8 + n]
    if hbytes[:1] != b"{":
        raise ValueError("%s: header does not start with '{'" % path)
    header = json.loads(hbytes.decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    expect = 0
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if set(e) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("%s/%s: bad entry keys %s" % (path, name, sorted(e)))
        st = e["dtype"]
        if st not in _ST_ITEMSIZE:
            raise ValueError("%s/%s: unknown dtype %s" % (path, name, st))
        b, end = e["data_offsets"]
        if b != expect:
            raise ValueError("%s/%s: not contiguous (%d != %d)" % (path, name, b, expect))
        numel = 1
        for d in e["shape"]:
            if not isinstance(d, int) or d < 0:
                raise ValueError("%s/%s: bad shape" % (path, name))
            numel *= d
        if end - b != numel * _ST_ITEMSIZE[st]:
            raise ValueError("%s/%s: size mismatch" % (path, name))
        expect = end
        chunk = data[b:end]
        npdt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8",
                "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
                "BOOL": "u1"}[st]
        arr = np.frombuffer(chunk, dtype=npdt).reshape(e["shape"]).copy()
        if st == "BOOL":
            if arr.size and arr.max() > 1:
                raise ValueError("%s/%s: BOOL byte not 0/1" % (path, name))
            t = torch.from_numpy(arr.astype(np.bool_))
        else:
            t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
        out[name] = t
    if expect != len(data):
        raise ValueError("%s: %d trailing bytes" % (path, len(data) - expect))
    return out


# ---------------------------------------------------------------------------
# hand-written reference modules
# ---------------------------------------------------------------------------

def masked_softmax(e, mask):
    e = e.masked_fill(mask, float("-inf"))
    return torch.softmax(e, dim=-1)


class Bahdanau(nn.Module):
    def __init__(self, query_size, key_size, attn_size):
        super().__init__()
        self.W_q = nn.Linear(query_size, attn_size, bias=False)
        self.W_k = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, query, keys, mask):
        e = self.v(torch.tanh(self.W_q(query)[:, None, :] + self.W_k(keys))).squeeze(-1)
        weights = masked_softmax(e, mask)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        return context, weights


class LuongBase(nn.Module):
    def __init__(self, H):
        super().__init__()
        self.W_c = nn.Linear(2 * H, H, bias=False)

    def score(self, query, keys):
        raise NotImplementedError

    def forward(self, query, keys, mask):
        e = self.score(query, keys)
        weights = masked_softmax(e, mask)
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        attentional = torch.tanh(self.W_c(torch.cat([context, query], dim=-1)))
        return context, weights, attentional


class LuongDot(LuongBase):
    def score(self, query, keys):
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)


class LuongGeneral(LuongBase):
    def __init__(self, H):
        super().__init__(H)
        self.W_a = nn.Linear(H, H, bias=False)

    def score(self, query, keys):
        return torch.bmm(self.W_a(keys), query.unsqueeze(-1)).squeeze(-1)


class LuongConcat(LuongBase):
    def __init__(self, H):
        super().__init__(H)
        self.W_a = nn.Linear(2 * H, H, bias=False)
        self.v_a = nn.Linear(H, 1, bias=False)

    def score(self, query, keys):
        s = query[:, None, :].expand(-1, keys.shape[1], -1)
        return self.v_a(torch.tanh(self.W_a(torch.cat([s, keys], dim=-1)))).squeeze(-1)


def sdpa(q, k, v, mask):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    weights = masked_softmax(scores, mask)
    return torch.matmul(weights, v), weights


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def length_mask(lengths, S):
    """BOOL [B,S], true at padding positions (index >= length)."""
    lengths = torch.tensor(lengths, dtype=torch.int64)
    return torch.arange(S)[None, :] >= lengths[:, None]


def random_row_mask(shape, p):
    """Random BOOL mask (true = masked) that never masks an entire last-dim row."""
    mask = torch.rand(shape) < p
    S = shape[-1]
    rows = mask.reshape(-1, S)
    keep = torch.randint(0, S, (rows.shape[0],))
    rows[torch.arange(rows.shape[0]), keep] = False
    return rows.reshape(shape)


def state_items(module):
    return [(k, v.float()) for k, v in module.state_dict().items()]


CASES = []  # (name, model file, entry, hyperparams list[(k,v)], builder)


def case(name, model, entry, hp):
    def deco(fn):
        CASES.append((name, model, entry, hp, fn))
        return fn
    return deco


# ---------------------------------------------------------------------------
# recurrent networks
# ---------------------------------------------------------------------------

def _rnn_case(name, cls, model, input_size, hidden_size, num_layers, bidir, B, T):
    hp = [("input_size", input_size), ("hidden_size", hidden_size),
          ("num_layers", num_layers), ("bidirectional", int(bidir))]

    def build():
        kw = dict(num_layers=num_layers, bias=True, batch_first=True,
                  bidirectional=bidir)
        if cls is nn.RNN:
            kw["nonlinearity"] = "tanh"
        m = cls(input_size, hidden_size, **kw).float().eval()
        D = 2 if bidir else 1
        x = torch.randn(B, T, input_size)
        h0 = torch.randn(D * num_layers, B, hidden_size)
        if cls is nn.LSTM:
            c0 = torch.randn(D * num_layers, B, hidden_size)
            out, (hn, cn) = m(x, (h0, c0))
            inputs = [("input", x), ("h_0", h0), ("c_0", c0)]
            outputs = [("output", out), ("h_n", hn), ("c_n", cn)]
        else:
            out, hn = m(x, h0)
            inputs = [("input", x), ("h_0", h0)]
            outputs = [("output", out), ("h_n", hn)]
        assert out.shape == (B, T, D * hidden_size)
        return state_items(m), inputs, outputs

    CASES.append((name, model, "forward", hp, build))


_rnn_case("rnn_l1", nn.RNN, "models/rnn.attn", 5, 7, 1, False, 2, 6)
_rnn_case("rnn_l2_bidir", nn.RNN, "models/rnn.attn", 5, 7, 2, True, 3, 4)

_rnn_case("gru_l1", nn.GRU, "models/gru.attn", 5, 7, 1, False, 2, 6)
_rnn_case("gru_l2_bidir", nn.GRU, "models/gru.attn", 5, 7, 2, True, 3, 4)
_rnn_case("gru_l3", nn.GRU, "models/gru.attn", 4, 6, 3, False, 1, 9)
_rnn_case("gru_bidir_l1", nn.GRU, "models/gru.attn", 3, 5, 1, True, 2, 5)

_rnn_case("lstm_l1", nn.LSTM, "models/lstm.attn", 5, 7, 1, False, 2, 6)
_rnn_case("lstm_l2_bidir", nn.LSTM, "models/lstm.attn", 5, 7, 2, True, 3, 4)
_rnn_case("lstm_b1", nn.LSTM, "models/lstm.attn", 5, 7, 1, False, 1, 11)


@case("grucell", "models/grucell.attn", "forward",
      [("input_size", 5), ("hidden_size", 7)])
def _grucell():
    m = nn.GRUCell(5, 7).float().eval()
    x = torch.randn(3, 5)
    hx = torch.randn(3, 7)
    h1 = m(x, hx)
    return state_items(m), [("input", x), ("hx", hx)], [("h_1", h1)]


@case("lstmcell", "models/lstmcell.attn", "forward",
      [("input_size", 5), ("hidden_size", 7)])
def _lstmcell():
    m = nn.LSTMCell(5, 7).float().eval()
    x = torch.randn(3, 5)
    hx = torch.randn(3, 7)
    cx = torch.randn(3, 7)
    h1, c1 = m(x, (hx, cx))
    return (state_items(m), [("input", x), ("hx", hx), ("cx", cx)],
            [("h_1", h1), ("c_1", c1)])


# ---------------------------------------------------------------------------
# multi-head attention
# ---------------------------------------------------------------------------

def _mha(E, H, query, key, value, kpm):
    m = nn.MultiheadAttention(E, H, dropout=0.0, bias=True, batch_first=True).float().eval()
    # Give the (zero-initialised) biases non-trivial values so they are tested.
    with torch.no_grad():
        m.in_proj_bias.copy_(torch.randn_like(m.in_proj_bias) * 0.1)
        m.out_proj.bias.copy_(torch.randn_like(m.out_proj.bias) * 0.1)
    out, w = m(query, key, value, key_padding_mask=kpm, need_weights=True,
               average_attn_weights=True)
    assert out.shape == query.shape
    assert w.shape == (query.shape[0], query.shape[1], key.shape[1])
    keys = [k for k, _ in m.state_dict().items()]
    assert keys == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                    "out_proj.bias"], keys
    inputs = [("query", query), ("key", key), ("value", value),
              ("key_padding_mask", kpm)]
    return state_items(m), inputs, [("attn_output", out), ("attn_output_weights", w)]


@case("mha_self", "models/mha.attn", "forward", [("embed_dim", 16), ("num_heads", 4)])
def _mha_self():
    x = torch.randn(2, 5, 16)
    kpm = length_mask([5, 3], 5)
    return _mha(16, 4, x, x, x, kpm)


@case("mha_cross", "models/mha.attn", "forward", [("embed_dim", 12), ("num_heads", 3)])
def _mha_cross():
    q = torch.randn(2, 3, 12)
    k = torch.randn(2, 6, 12)
    v = torch.randn(2, 6, 12)
    kpm = length_mask([5, 2], 6)
    return _mha(12, 3, q, k, v, kpm)


@case("mha_nopad", "models/mha.attn", "forward", [("embed_dim", 8), ("num_heads", 2)])
def _mha_nopad():
    q = torch.randn(2, 4, 8)
    k = torch.randn(2, 5, 8)
    v = torch.randn(2, 5, 8)
    kpm = torch.zeros(2, 5, dtype=torch.bool)
    return _mha(8, 2, q, k, v, kpm)


# ---------------------------------------------------------------------------
# additive / multiplicative attention
# ---------------------------------------------------------------------------

def _bahdanau(B, S, lengths):
    qs, ks, a = 6, 5, 4
    m = Bahdanau(qs, ks, a).float().eval()
    query = torch.randn(B, qs)
    keys = torch.randn(B, S, ks)
    mask = length_mask(lengths, S)
    ctx, w = m(query, keys, mask)
    return (state_items(m), [("query", query), ("keys", keys), ("mask", mask)],
            [("context", ctx), ("weights", w)])


BAH_HP = [("query_size", 6), ("key_size", 5), ("attn_size", 4)]


@case("bahdanau", "models/bahdanau.attn", "forward", BAH_HP)
def _bahdanau_pad():
    return _bahdanau(3, 7, [7, 4, 2])


@case("bahdanau_nopad", "models/bahdanau.attn", "forward", BAH_HP)
def _bahdanau_nopad():
    return _bahdanau(3, 7, [7, 7, 7])


def _luong(cls, expected_keys):
    H, B, S = 8, 2, 5

    def build():
        m = cls(H).float().eval()
        keys_sd = sorted(m.state_dict().keys())
        assert keys_sd == sorted(expected_keys), keys_sd
        query = torch.randn(B, H)
        keys = torch.randn(B, S, H)
        mask = length_mask([5, 3], S)
        ctx, w, att = m(query, keys, mask)
        return (state_items(m), [("query", query), ("keys", keys), ("mask", mask)],
                [("context", ctx), ("weights", w), ("attentional", att)])
    return build


LUONG_HP = [("hidden_size", 8)]
CASES.append(("luong_dot", "models/luong.attn", "dot", LUONG_HP,
              _luong(LuongDot, ["W_c.weight"])))
CASES.append(("luong_general", "models/luong.attn", "general", LUONG_HP,
              _luong(LuongGeneral, ["W_a.weight", "W_c.weight"])))
CASES.append(("luong_concat", "models/luong.attn", "concat", LUONG_HP,
              _luong(LuongConcat, ["W_a.weight", "v_a.weight", "W_c.weight"])))


# ---------------------------------------------------------------------------
# scaled dot-product attention
# ---------------------------------------------------------------------------

@case("sdpa_masked", "models/sdpa.attn", "forward", [])
def _sdpa_masked():
    B, h, L, S, d = 2, 3, 4, 6, 8
    q = torch.randn(B, h, L, d)
    k = torch.randn(B, h, S, d)
    v = torch.randn(B, h, S, d)
    mask = random_row_mask((B, h, L, S), 0.4)
    out, w = sdpa(q, k, v, mask)
    return ([], [("query", q), ("key", k), ("value", v), ("attn_mask", mask)],
            [("output", out), ("weights", w)])


@case("sdpa_causal", "models/sdpa.attn", "causal", [])
def _sdpa_causal():
    B, h, L, d = 2, 2, 5, 4
    q = torch.randn(B, h, L, d)
    k = torch.randn(B, h, L, d)
    v = torch.randn(B, h, L, d)
    mask = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
    out, w = sdpa(q, k, v, mask.expand(B, h, L, L))
    return ([], [("query", q), ("key", k), ("value", v)],
            [("output", out), ("weights", w)])


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------

MANIFEST_HEADER = """\
# Golden test manifest, generated by tests/golden/gen.py -- do not edit by hand.
# One case per line, fields separated by single spaces:
#   <case> <model file relative to repo root> <entry> <hyperparameters>
# <hyperparameters> is name=value pairs separated by commas (booleans as 0/1),
# or - when the model takes none.  Fixtures for <case> live in
# tests/golden/fixtures/<case>/{weights,inputs,expected}.safetensors:
#   weights  - the PyTorch module's state_dict() (F32, PyTorch key names)
#   inputs   - the entry's inputs (F32; masks as BOOL, true = masked/padding)
#   expected - the PyTorch outputs (F32); compare with atol = rtol = 1e-5.
"""


def case_seed(index):
    return 1000 + index


def manifest_line(name, model, entry, hp):
    hps = ",".join("%s=%s" % (k, v) for k, v in hp) if hp else "-"
    return "%s %s %s %s" % (name, model, entry, hps)


def generate():
    torch.set_num_threads(1)  # avoid any thread-count dependent reductions
    if os.path.isdir(FIXTURES):
        shutil.rmtree(FIXTURES)
    lines = [MANIFEST_HEADER.rstrip("\n")]
    for i, (name, model, entry, hp, build) in enumerate(CASES):
        torch.manual_seed(case_seed(i))
        with torch.inference_mode():
            weights, inputs, outputs = build()
        for _, t in outputs:
            assert t.dtype == torch.float32 and torch.isfinite(t).all(), name
        d = os.path.join(FIXTURES, name)
        write_safetensors(os.path.join(d, "weights.safetensors"), weights)
        write_safetensors(os.path.join(d, "inputs.safetensors"), inputs)
        write_safetensors(os.path.join(d, "expected.safetensors"), outputs)
        lines.append(manifest_line(name, model, entry, hp))
    with open(MANIFEST, "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def check():
    """Re-read every fixture with our own parser and validate it."""
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    with open(MANIFEST) as f:
        mlines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    expect_lines = [manifest_line(n, m, e, hp) for n, m, e, hp, _ in CASES]
    assert mlines == expect_lines, "manifest out of date"
    total = 0
    for line in mlines:
        fields = line.split(" ")
        assert len(fields) == 4, line
        name = fields[0]
        d = os.path.join(FIXTURES, name)
        for kind in ("weights", "inputs", "expected"):
            p = os.path.join(d, kind + ".safetensors")
            size = os.path.getsize(p)
            assert size < MAX_FILE_BYTES, "%s is %d bytes" % (p, size)
            total += size
            tensors = read_safetensors(p)
            for tn, t in tensors.items():
                if kind != "inputs":
                    assert t.dtype == torch.float32, (p, tn)
                else:
                    assert t.dtype in (torch.float32, torch.bool, torch.int64), (p, tn)
                if t.dtype == torch.float32:
                    assert torch.isfinite(t).all(), (p, tn)
                if t.dtype == torch.bool and t.dim() >= 1 and t.shape[-1] > 0:
                    assert not t.all(dim=-1).any(), "%s/%s masks a whole row" % (p, tn)
    # Recompute everything in memory and compare with what is on disk.
    torch.set_num_threads(1)
    for i, (name, model, entry, hp, build) in enumerate(CASES):
        torch.manual_seed(case_seed(i))
        with torch.inference_mode():
            parts = build()
        d = os.path.join(FIXTURES, name)
        for kind, items in zip(("weights", "inputs", "expected"), parts):
            disk = read_safetensors(os.path.join(d, kind + ".safetensors"))
            assert list(disk.keys()) == [k for k, _ in items], (name, kind)
            for k, t in items:
                assert disk[k].dtype == t.dtype and disk[k].shape == t.shape, (name, k)
                assert torch.equal(disk[k], t), (name, kind, k)
    extra = sorted(set(os.listdir(FIXTURES)) - set(names))
    assert not extra, "stray fixture dirs: %s" % extra
    print("ok: %d cases, %d bytes of fixtures" % (len(mlines), total))


def main(argv):
    if argv[1:] == ["--check"]:
        check()
    elif argv[1:] == []:
        generate()
        check()
    else:
        sys.stderr.write("usage: %s [--check]\n" % argv[0])
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
