#!/usr/bin/python3
"""Generate the golden fixtures for the attn models from PyTorch.

Run with Debian's PyTorch:

    /usr/bin/python3 tests/golden/gen.py          # regenerate everything
    /usr/bin/python3 tests/golden/gen.py --check  # validate the files on disk

Every case is seeded with torch.manual_seed(<fixed per-case seed>) and
computed on the CPU in float32 under torch.inference_mode(), so running the
script twice produces byte-identical files.

For each case it writes tests/golden/fixtures/<case>/{weights,inputs,expected}
.safetensors and finally the manifests tests/golden/cases.txt and
cases_zoo2.txt (see ZOO2_MANIFEST).  Safetensors
files are written by hand (no safetensors package on Debian): u64 LE header
length N, N bytes of JSON padded with spaces to a multiple of 8, then the raw
little-endian row-major tensor data, contiguous, in header order.
"""

import math
import os
import shutil
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
MANIFEST = os.path.join(HERE, "cases.txt")

MAX_FILE_BYTES = 64 * 1024

# ---------------------------------------------------------------------------
# safetensors: the Python package's numpy reader and writer (python/attn)
# ---------------------------------------------------------------------------

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from attn.safetensors import load_safetensors, save_safetensors  # noqa: E402


def write_safetensors(path, tensors):
    """tensors: list of (name, tensor) in the order they are stored."""
    save_safetensors(path, dict(tensors))


def read_safetensors(path):
    """The file's tensors as torch tensors, in file order (the reader checks
    dtypes, offsets that tile the data, BOOL bytes)."""
    return {k: torch.from_numpy(v) for k, v in load_safetensors(path).items()}


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


def _cell_case(name, cls, input_size, hidden_size, B):
    """nn.GRUCell or nn.LSTMCell on a batch of B (models/grucell.attn, models/lstmcell.attn)."""
    model = "models/%s.attn" % ("lstmcell" if cls is nn.LSTMCell else "grucell")

    def build():
        m = cls(input_size, hidden_size).float().eval()
        x = torch.randn(B, input_size)
        hx = torch.randn(B, hidden_size)
        if cls is nn.LSTMCell:
            cx = torch.randn(B, hidden_size)
            h1, c1 = m(x, (hx, cx))
            return (state_items(m), [("input", x), ("hx", hx), ("cx", cx)],
                    [("h_1", h1), ("c_1", c1)])
        return state_items(m), [("input", x), ("hx", hx)], [("h_1", m(x, hx))]

    CASES.append((name, model, "forward", [("input_size", input_size), ("hidden_size", hidden_size)], build))


_cell_case("grucell", nn.GRUCell, 5, 7, 3)
_cell_case("lstmcell", nn.LSTMCell, 5, 7, 3)


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
# zoo 2: Transformer layers, BERT, local attention, sentence/document
# encoders, image captioning, seq2seq.  These cases go to cases_zoo2.txt
# (see ZOO2_MANIFEST); they are appended after the cases above so that the
# earlier cases keep their seeds.
# ---------------------------------------------------------------------------

ZOO2_START = len(CASES)


def randomize_(t, scale, offset=0.0):
    """Overwrite parameter t in place with offset + scale * N(0, 1)."""
    with torch.no_grad():
        t.copy_(offset + scale * torch.randn_like(t))


def randomize_layer_norms_(module):
    for sub in module.modules():
        if isinstance(sub, nn.LayerNorm):
            randomize_(sub.weight, 0.2, 1.0)
            randomize_(sub.bias, 0.2)


def check_keys(module, expected):
    keys = list(module.state_dict().keys())
    assert keys == expected, keys


def causal_mask(T):
    """BOOL [T,T], true above the diagonal (position t may not see t' > t)."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def _tf_hp(d, h, ff, act, nf, eps):
    return [("d_model", d), ("nhead", h), ("dim_feedforward", ff),
            ("activation", act), ("norm_first", int(nf)), ("layer_norm_eps", eps)]


def _tf_randomize(m):
    # LayerNorm weights/biases start at 1/0 and the MHA biases at 0:
    # randomize them so that every path is tested.
    randomize_layer_norms_(m)
    for name, p in m.named_parameters():
        if name.endswith("in_proj_bias") or name.endswith("out_proj.bias"):
            randomize_(p, 0.1)


def _tf_run(m, *args, **kw):
    # Training mode with dropout=0.0 takes PyTorch's plain ("slow") path:
    # in eval mode under inference_mode, nn.TransformerEncoderLayer and
    # nn.MultiheadAttention switch to fused fast-path kernels that round
    # differently (within 5e-7 here).  Dropout with p=0 is the identity.
    m.train()
    out = m(*args, **kw)
    m.eval()
    return out


TF_ENC_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias",
               "self_attn.out_proj.weight", "self_attn.out_proj.bias",
               "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
               "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]

TF_DEC_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias",
               "self_attn.out_proj.weight", "self_attn.out_proj.bias",
               "multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias",
               "multihead_attn.out_proj.weight", "multihead_attn.out_proj.bias",
               "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
               "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
               "norm3.weight", "norm3.bias"]


def _enc_case(name, entry, d, h, ff, act, nf, eps, B, L, lengths):
    def build():
        m = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation=act,
                                       layer_norm_eps=float(eps), batch_first=True,
                                       norm_first=nf).float().eval()
        _tf_randomize(m)
        check_keys(m, TF_ENC_KEYS)
        src = torch.randn(B, L, d)
        if entry == "forward":
            mask = length_mask(lengths, L)
            out = _tf_run(m, src, src_key_padding_mask=mask)
            inputs = [("src", src), ("src_key_padding_mask", mask)]
        else:
            out = _tf_run(m, src)
            inputs = [("src", src)]
        assert out.shape == (B, L, d)
        return state_items(m), inputs, [("output", out)]
    CASES.append((name, "models/transformer_encoder_layer.attn", entry,
                  _tf_hp(d, h, ff, act, nf, eps), build))


_enc_case("enc_relu_post", "forward", 8, 2, 16, "relu", False, "1e-5", 3, 6, [6, 4, 2])
_enc_case("enc_gelu_pre", "forward", 12, 3, 20, "gelu", True, "1e-6", 2, 5, [5, 3])
_enc_case("enc_nomask", "forward_nomask", 8, 4, 12, "gelu", False, "1e-5", 2, 4, None)


def _dec_case(name, entry, d, h, ff, act, nf, eps, B, T, S, tgt_lengths, mem_lengths):
    def build():
        m = nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, activation=act,
                                       layer_norm_eps=float(eps), batch_first=True,
                                       norm_first=nf).float().eval()
        _tf_randomize(m)
        check_keys(m, TF_DEC_KEYS)
        tgt = torch.randn(B, T, d)
        memory = torch.randn(B, S, d)
        if entry == "forward":
            # Position 0 is never padded, so with the causal mask no row of
            # the self-attention is fully masked.
            assert min(tgt_lengths) >= 1 and min(mem_lengths) >= 1
            tkpm = length_mask(tgt_lengths, T)
            mkpm = length_mask(mem_lengths, S)
            out = _tf_run(m, tgt, memory, tgt_mask=causal_mask(T),
                          tgt_key_padding_mask=tkpm, memory_key_padding_mask=mkpm)
            inputs = [("tgt", tgt), ("memory", memory),
                      ("tgt_key_padding_mask", tkpm), ("memory_key_padding_mask", mkpm)]
        else:
            out = _tf_run(m, tgt, memory, tgt_mask=causal_mask(T))
            inputs = [("tgt", tgt), ("memory", memory)]
        assert out.shape == (B, T, d)
        return state_items(m), inputs, [("output", out)]
    CASES.append((name, "models/transformer_decoder_layer.attn", entry,
                  _tf_hp(d, h, ff, act, nf, eps), build))


_dec_case("dec_relu_post", "forward", 8, 2, 16, "relu", False, "1e-5", 3, 5, 6,
          [5, 3, 1], [6, 2, 4])
_dec_case("dec_gelu_pre", "forward", 12, 3, 20, "gelu", True, "1e-6", 2, 4, 5,
          [2, 4], [3, 5])
_dec_case("dec_nomask", "forward_nomask", 8, 4, 12, "gelu", False, "1e-5", 2, 4, 3,
          None, None)


# --- BERT (HuggingFace BertModel semantics, written out by hand) ----------

class BertEmbeddings(nn.Module):
    def __init__(self, vocab_size, hidden, max_pos, type_vocab):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_pos, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, input_ids, token_type_ids):
        L = input_ids.shape[1]
        position_ids = torch.arange(L, dtype=torch.int64)[None, :]
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(position_ids)
        return self.LayerNorm(e)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split(self, x):
        B, L, E = x.shape
        return x.view(B, L, self.heads, E // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q = self.split(self.query(x))
        k = self.split(self.key(x))
        v = self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2))
        scores = scores / math.sqrt(q.shape[-1])
        scores = scores + ext_mask
        probs = torch.softmax(scores, dim=-1)
        self.probs = probs  # kept for inspection, as HF's output_attentions
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class BertDenseLN(nn.Module):  # BertSelfOutput / BertOutput
    def __init__(self, in_features, hidden):
        super().__init__()
        self.dense = nn.Linear(in_features, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.self = BertSelfAttention(hidden, heads)
        self.output = BertDenseLN(hidden, hidden)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.dense = nn.Linear(hidden, inter)

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # exact erf GELU


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inter):
        super().__init__()
        self.attention = BertAttention(hidden, heads)
        self.intermediate = BertIntermediate(hidden, inter)
        self.output = BertDenseLN(inter, hidden)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, n, hidden, heads, inter):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(hidden, heads, inter) for _ in range(n)])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
                 intermediate_size, max_position_embeddings, type_vocab_size):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab_size, hidden_size,
                                         max_position_embeddings, type_vocab_size)
        self.encoder = BertEncoder(num_hidden_layers, hidden_size,
                                   num_attention_heads, intermediate_size)
        self.pooler = BertPooler(hidden_size)

    def forward(self, input_ids, token_type_ids, attention_mask):
        # HF get_extended_attention_mask: (1 - mask) * finfo(float32).min.
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * torch.finfo(torch.float32).min
        h = self.encoder(self.embeddings(input_ids, token_type_ids), ext)
        return h, self.pooler(h)


def bert_keys(n):
    keys = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for i in range(n):
        p = "encoder.layer.%d." % i
        for s in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "attention.output.LayerNorm",
                  "intermediate.dense", "output.dense", "output.LayerNorm"):
            keys += [p + s + ".weight", p + s + ".bias"]
    return keys + ["pooler.dense.weight", "pooler.dense.bias"]


BERT_TINY = [("vocab_size", 50), ("hidden_size", 16), ("num_hidden_layers", 2),
             ("num_attention_heads", 2), ("intermediate_size", 32),
             ("max_position_embeddings", 16), ("type_vocab_size", 2)]


@case("bert_tiny", "models/bert.attn", "forward", BERT_TINY)
def _bert_tiny():
    hp = dict(BERT_TINY)
    m = BertModel(**hp).float().eval()
    randomize_layer_norms_(m)
    check_keys(m, bert_keys(hp["num_hidden_layers"]))
    B, L = 2, 7
    lengths = [7, 4]
    pad = length_mask(lengths, L)
    input_ids = torch.randint(1, hp["vocab_size"], (B, L)).masked_fill(pad, 0)
    token_type_ids = torch.randint(0, hp["type_vocab_size"], (B, L)).masked_fill(pad, 0)
    attention_mask = (~pad).to(torch.int64)
    h, pooled = m(input_ids, token_type_ids, attention_mask)
    assert h.shape == (B, L, hp["hidden_size"]) and pooled.shape == (B, hp["hidden_size"])
    return (state_items(m),
            [("input_ids", input_ids), ("token_type_ids", token_type_ids),
             ("attention_mask", attention_mask)],
            [("last_hidden_state", h), ("pooler_output", pooled)])


# --- Luong local attention -------------------------------------------------

class LuongLocal(nn.Module):
    """local-m (position given) or local-p (position predicted), general score."""

    def __init__(self, H, D, predictive):
        super().__init__()
        self.D = D
        self.W_a = nn.Linear(H, H, bias=False)
        if predictive:
            self.W_p = nn.Linear(H, H, bias=False)
            self.v_p = nn.Linear(H, 1, bias=False)
        self.W_c = nn.Linear(2 * H, H, bias=False)

    def predict_position(self, query, mask):
        S_b = (~mask).sum(-1).to(torch.float32)
        return S_b * torch.sigmoid(self.v_p(torch.tanh(self.W_p(query)))).squeeze(-1)

    def forward(self, query, keys, mask, position):
        S = keys.shape[1]
        S_b = (~mask).sum(-1)
        i = torch.arange(S, dtype=torch.float32)[None, :]
        dist = i - position[:, None]
        outside = (dist.abs() > self.D) | mask | (i >= S_b[:, None])
        assert not outside.all(-1).any(), "a window holds no unpadded position"
        e = torch.bmm(self.W_a(keys), query.unsqueeze(-1)).squeeze(-1)
        sigma = self.D / 2.0
        weights = masked_softmax(e, outside) * torch.exp(-(dist * dist) / (2 * sigma * sigma))
        context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)
        attentional = torch.tanh(self.W_c(torch.cat([context, query], dim=-1)))
        return context, weights, attentional, outside


LOCAL_HP = [("hidden_size", 6), ("window", 2)]


def _luong_local(predictive):
    H, D, B, S = 6, 2, 3, 7
    m = LuongLocal(H, D, predictive).float().eval()
    query = torch.randn(B, H)
    keys = torch.randn(B, S, H)
    mask = length_mask([7, 5, 3], S)
    if predictive:
        check_keys(m, ["W_a.weight", "W_p.weight", "v_p.weight", "W_c.weight"])
        position = m.predict_position(query, mask)
        # p_t is computed, so keep every |i - p_t| clear of the window edge
        # (rounding must not move a position in or out of the window).
        dist = (torch.arange(S, dtype=torch.float32)[None, :] - position[:, None]).abs()
        assert ((dist - D).abs() > 1e-3).all(), position
    else:
        check_keys(m, ["W_a.weight", "W_c.weight"])
        # Item 0 puts positions 1 and 5 exactly on the window edge (|i - p| = D
        # is inside); item 1's window runs into the padding.
        position = torch.tensor([3.0, 3.7, 0.6])
    ctx, w, att, outside = m(query, keys, mask, position)
    assert (w[outside] == 0).all()
    inputs = [("query", query), ("keys", keys), ("mask", mask)]
    if not predictive:
        inputs.append(("position", position))
    return (state_items(m), inputs,
            [("context", ctx), ("weights", w), ("attentional", att)])


@case("luong_local_m", "models/luong_local.attn", "local_m", LOCAL_HP)
def _luong_local_m():
    return _luong_local(False)


@case("luong_local_p", "models/luong_local.attn", "local_p", LOCAL_HP)
def _luong_local_p():
    return _luong_local(True)


# --- Structured self-attentive sentence embedding (Lin et al. 2017) ------

class StructuredSelfAttention(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, d_a, r):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.W_s1 = nn.Linear(2 * hidden_size, d_a, bias=False)
        self.W_s2 = nn.Linear(d_a, r, bias=False)

    def forward(self, input_ids, mask):
        H, _ = self.lstm(self.embedding(input_ids))      # [B,T,2u], zero state, no packing
        scores = self.W_s2(torch.tanh(self.W_s1(H))).transpose(1, 2)  # [B,r,T]
        A = masked_softmax(scores, mask[:, None, :])
        M = torch.bmm(A, H)
        r = A.shape[1]
        P = torch.bmm(A, A.transpose(1, 2)) - torch.eye(r)[None]
        penalty = (P * P).sum(dim=(1, 2))
        return A, M, penalty


SSA_HP = [("vocab_size", 20), ("embed_dim", 6), ("hidden_size", 5), ("d_a", 4), ("r", 3)]


@case("ssa", "models/structured_self_attention.attn", "forward", SSA_HP)
def _ssa():
    hp = dict(SSA_HP)
    m = StructuredSelfAttention(**hp).float().eval()
    check_keys(m, ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
                   "lstm.bias_ih_l0", "lstm.bias_hh_l0", "lstm.weight_ih_l0_reverse",
                   "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0_reverse",
                   "lstm.bias_hh_l0_reverse", "W_s1.weight", "W_s2.weight"])
    B, T = 3, 6
    mask = length_mask([6, 4, 2], T)
    input_ids = torch.randint(1, hp["vocab_size"], (B, T)).masked_fill(mask, 0)
    A, M, penalty = m(input_ids, mask)
    assert A.shape == (B, 3, T) and M.shape == (B, 3, 10) and penalty.shape == (B,)
    return (state_items(m), [("input_ids", input_ids), ("mask", mask)],
            [("A", A), ("M", M), ("penalty", penalty)])


# --- Hierarchical attention network (Yang et al. 2016) -------------------

class HAN(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes):
        super().__init__()
        H2 = 2 * hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.word_gru = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.word_proj = nn.Linear(H2, H2)
        self.u_w = nn.Parameter(torch.randn(H2))
        self.sent_gru = nn.GRU(H2, hidden_size, batch_first=True, bidirectional=True)
        self.sent_proj = nn.Linear(H2, H2)
        self.u_s = nn.Parameter(torch.randn(H2))
        self.classifier = nn.Linear(H2, num_classes)

    @staticmethod
    def attend(h, proj, u, mask):
        scores = torch.matmul(torch.tanh(proj(h)), u)        # [.., T]
        alpha = masked_softmax(scores, mask)
        return torch.bmm(alpha.unsqueeze(1), h).squeeze(1), alpha

    def forward(self, input_ids, word_mask, sentence_mask):
        B, N, W = input_ids.shape
        x = self.embedding(input_ids.reshape(B * N, W))
        h, _ = self.word_gru(x)                                # zero state, no packing
        s, word_alpha = self.attend(h, self.word_proj, self.u_w, word_mask.reshape(B * N, W))
        hs, _ = self.sent_gru(s.reshape(B, N, -1))
        v, sent_alpha = self.attend(hs, self.sent_proj, self.u_s, sentence_mask)
        probs = torch.softmax(self.classifier(v), dim=-1)
        return probs, word_alpha.reshape(B, N, W), sent_alpha


HAN_HP = [("vocab_size", 20), ("embed_dim", 6), ("hidden_size", 4), ("num_classes", 3)]


def _gru_keys(prefix):
    return [prefix + k for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                 "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                 "bias_ih_l0_reverse", "bias_hh_l0_reverse")]


@case("han", "models/han.attn", "forward", HAN_HP)
def _han():
    hp = dict(HAN_HP)
    m = HAN(**hp).float().eval()
    check_keys(m, ["u_w", "u_s", "embedding.weight"] + _gru_keys("word_gru.")
               + ["word_proj.weight", "word_proj.bias"] + _gru_keys("sent_gru.")
               + ["sent_proj.weight", "sent_proj.bias", "classifier.weight",
                  "classifier.bias"])
    B, N, W = 2, 3, 5
    # Words per sentence; document 1's last sentence is padding (it still has
    # one unpadded word, so no row of word_mask is fully masked).
    word_lengths = [[5, 3, 2], [4, 5, 1]]
    sentence_mask = length_mask([3, 2], N)
    word_mask = torch.stack([length_mask(l, W) for l in word_lengths])
    input_ids = torch.randint(1, hp["vocab_size"], (B, N, W))
    input_ids = input_ids.masked_fill(word_mask | sentence_mask[:, :, None], 0)
    probs, wa, sa = m(input_ids, word_mask, sentence_mask)
    assert probs.shape == (B, 3) and wa.shape == (B, N, W) and sa.shape == (B, N)
    return (state_items(m),
            [("input_ids", input_ids), ("word_mask", word_mask),
             ("sentence_mask", sentence_mask)],
            [("probs", probs), ("word_attention", wa), ("sentence_attention", sa)])


# --- Show, attend and tell (Xu et al. 2015), one decoder step ------------

class ShowAttendTell(nn.Module):
    def __init__(self, encoder_dim, decoder_dim, attention_dim, embed_dim, vocab_size):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim)
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def forward(self, features, h, c, prev_word):
        e = self.full_att(torch.tanh(self.encoder_att(features)
                                     + self.decoder_att(h)[:, None, :])).squeeze(-1)
        alpha = torch.softmax(e, dim=-1)
        context = torch.sigmoid(self.f_beta(h)) * torch.bmm(alpha.unsqueeze(1), features).squeeze(1)
        x = torch.cat([self.embedding(prev_word), context], dim=-1)
        h1, c1 = self.decode_step(x, (h, c))
        return alpha, context, h1, c1, self.fc(h1)


SAT_HP = [("encoder_dim", 8), ("decoder_dim", 6), ("attention_dim", 5), ("embed_dim", 4),
          ("vocab_size", 11)]


@case("show_attend_tell", "models/show_attend_tell.attn", "forward", SAT_HP)
def _show_attend_tell():
    hp = dict(SAT_HP)
    m = ShowAttendTell(**hp).float().eval()
    check_keys(m, ["encoder_att.weight", "encoder_att.bias", "decoder_att.weight",
                   "decoder_att.bias", "full_att.weight", "full_att.bias",
                   "embedding.weight", "f_beta.weight", "f_beta.bias",
                   "decode_step.weight_ih", "decode_step.weight_hh",
                   "decode_step.bias_ih", "decode_step.bias_hh", "fc.weight", "fc.bias"])
    B = 2
    features = torch.randn(B, 49, hp["encoder_dim"])
    h = 0.5 * torch.randn(B, hp["decoder_dim"])
    c = 0.5 * torch.randn(B, hp["decoder_dim"])
    prev_word = torch.randint(0, hp["vocab_size"], (B,))
    alpha, context, h1, c1, logits = m(features, h, c, prev_word)
    return (state_items(m),
            [("features", features), ("h", h), ("c", c), ("prev_word", prev_word)],
            [("alpha", alpha), ("context", context), ("h", h1), ("c", c1),
             ("logits", logits)])


# --- GRU encoder-decoder with Bahdanau attention --------------------------

class Seq2SeqAttention(nn.Module):
    def __init__(self, vocab_src, vocab_tgt, embed_dim, hidden_size, attn_size, bos=1):
        super().__init__()
        self.bos = bos
        self.embedding_src = nn.Embedding(vocab_src, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.embedding_tgt = nn.Embedding(vocab_tgt, embed_dim)
        self.attn = Bahdanau(hidden_size, hidden_size, attn_size)
        self.decoder = nn.GRUCell(embed_dim + hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_tgt)

    def encode(self, src, src_mask):
        # Runs over the padded sequence from a zero state without packing:
        # memory is the GRU output at every position, state its final hidden
        # state (after the padding steps).  src_mask only matters in attention.
        memory, h_n = self.encoder(self.embedding_src(src))
        return memory, h_n[0]

    def decode_step(self, prev_token, state, memory, src_mask):
        context, attention = self.attn(state, memory, src_mask)
        x = torch.cat([self.embedding_tgt(prev_token), context], dim=-1)
        state = self.decoder(x, state)
        return self.out(state), state, attention

    def greedy(self, src, src_mask, max_len):
        memory, state = self.encode(src, src_mask)
        prev = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        tokens, attns = [], []
        for _ in range(max_len):
            logits, state, attention = self.decode_step(prev, state, memory, src_mask)
            top2 = logits.topk(2, dim=-1).values
            # No near-ties, so rounding cannot change the argmax.
            assert ((top2[:, 0] - top2[:, 1]) > 1e-3).all(), top2
            prev = logits.argmax(dim=-1)
            tokens.append(prev)
            attns.append(attention)
        return torch.stack(tokens, dim=1), torch.stack(attns, dim=1)


S2S_HP = [("vocab_src", 13), ("vocab_tgt", 11), ("embed_dim", 5), ("hidden_size", 6),
          ("attn_size", 4), ("bos", 1)]


def _s2s_setup():
    hp = dict(S2S_HP)
    m = Seq2SeqAttention(**hp).float().eval()
    check_keys(m, ["embedding_src.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0",
                   "encoder.bias_ih_l0", "encoder.bias_hh_l0", "embedding_tgt.weight",
                   "attn.W_q.weight", "attn.W_k.weight", "attn.v.weight",
                   "decoder.weight_ih", "decoder.weight_hh", "decoder.bias_ih",
                   "decoder.bias_hh", "out.weight", "out.bias"])
    B, S = 3, 6
    src_mask = length_mask([6, 4, 2], S)
    src = torch.randint(2, hp["vocab_src"], (B, S)).masked_fill(src_mask, 0)
    return hp, m, src, src_mask


@case("s2s_encode", "models/seq2seq_attention.attn", "encode", S2S_HP)
def _s2s_encode():
    hp, m, src, src_mask = _s2s_setup()
    memory, state = m.encode(src, src_mask)
    return (state_items(m), [("src", src), ("src_mask", src_mask)],
            [("memory", memory), ("state", state)])


@case("s2s_decode_step", "models/seq2seq_attention.attn", "decode_step", S2S_HP)
def _s2s_decode_step():
    hp, m, src, src_mask = _s2s_setup()
    memory, _ = m.encode(src, src_mask)
    state = 0.5 * torch.randn(src.shape[0], hp["hidden_size"])
    prev_token = torch.randint(0, hp["vocab_tgt"], (src.shape[0],))
    logits, state1, attention = m.decode_step(prev_token, state, memory, src_mask)
    return (state_items(m),
            [("prev_token", prev_token), ("state", state), ("memory", memory),
             ("src_mask", src_mask)],
            [("logits", logits), ("state", state1), ("attention", attention)])


@case("s2s_greedy", "models/seq2seq_attention.attn", "greedy", S2S_HP)
def _s2s_greedy():
    hp, m, src, src_mask = _s2s_setup()
    max_len = 5
    tokens, attention = m.greedy(src, src_mask, max_len)
    assert tokens.dtype == torch.int64 and tokens.shape == (src.shape[0], max_len)
    return (state_items(m),
            [("src", src), ("src_mask", src_mask),
             ("max_len", torch.zeros(max_len, dtype=torch.int64))],
            [("tokens", tokens), ("attention", attention)])


# ---------------------------------------------------------------------------
# a recurrent cell written by hand, one linear layer per gate
# ---------------------------------------------------------------------------

class PerGateGRU(nn.Module):
    """A GRU over a batch_first sequence built from six nn.Linear layers, as
    users often write their own cells (tests/golden/models/gru_per_gate.attn)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        for side, n_in in (("x", input_size), ("h", hidden_size)):
            for gate in "rzn":
                setattr(self, "%s_%s" % (side, gate), nn.Linear(n_in, hidden_size))

    def forward(self, x, h):
        ys = []
        for t in range(x.shape[1]):
            x_t = x[:, t]
            r = torch.sigmoid(self.x_r(x_t) + self.h_r(h))
            z = torch.sigmoid(self.x_z(x_t) + self.h_z(h))
            n = torch.tanh(self.x_n(x_t) + r * self.h_n(h))
            h = (1 - z) * n + z * h
            ys.append(h)
        return torch.stack(ys, 1), h


@case("gru_per_gate", "tests/golden/models/gru_per_gate.attn", "forward",
      [("input_size", 5), ("hidden_size", 7)])
def _gru_per_gate():
    m = PerGateGRU(5, 7).float().eval()
    x = torch.randn(3, 6, 5)
    h0 = torch.randn(3, 7)
    out, hn = m(x, h0)
    return state_items(m), [("input", x), ("h_0", h0)], [("output", out), ("h_n", hn)]


class SharedOperandProducts(nn.Module):
    """Products that share their left operand with weights stored [in, out]
    (x @ W, not x @ W.T): a recurrent cell of two gates and a sum of two
    projections of the input (tests/golden/models/shared_operand_products.attn)."""

    def __init__(self):
        super().__init__()
        for name, shape in (("wa", (6, 5)), ("wb", (6, 7)), ("ua", (5, 5)), ("ub", (5, 5)), ("ba", (5,)), ("bb", (5,))):
            setattr(self, name, nn.Parameter(torch.randn(*shape) * (0.5 if name[0] == "u" else 1.0)))

    def forward(self, x, h):
        ys = []
        for t in range(x.shape[1]):
            a = torch.sigmoid(h @ self.ua + self.ba + x[:, t] @ self.wa)
            h = torch.tanh(a * (h @ self.ub + self.bb)) * 0.5 + h * 0.5
            ys.append(h)
        p = x @ self.wa + 1.0 + (x @ self.wb).sum(-1, keepdim=True)
        return torch.stack(ys, 1), h, p


@case("shared_operand_products", "tests/golden/models/shared_operand_products.attn", "forward", [])
def _shared_operand_products():
    m = SharedOperandProducts().float().eval()
    x = torch.randn(3, 4, 6)
    h0 = torch.randn(3, 5)
    ys, hn, p = m(x, h0)
    return state_items(m), [("x", x), ("h0", h0)], [("ys", ys), ("hn", hn), ("p", p)]


# ---------------------------------------------------------------------------
# recurrent layers whose hidden size is a multiple of 16: the JIT and AOT
# objects compute their gates in the recurrent product's epilogue
# (compiler/fuse/fuse_gates.c); batch 1..4 runs the product's small-M path,
# larger batches its main path; H = 16 gives an LSTM 64 columns per group,
# more than one panel
# ---------------------------------------------------------------------------

_rnn_case("gru_gated_b3", nn.GRU, "models/gru.attn", 12, 32, 1, True, 3, 5)
_rnn_case("gru_gated_b9", nn.GRU, "models/gru.attn", 8, 16, 1, False, 9, 4)
_rnn_case("lstm_gated_b1", nn.LSTM, "models/lstm.attn", 12, 16, 2, True, 1, 5)
_rnn_case("lstm_gated_b9", nn.LSTM, "models/lstm.attn", 8, 16, 1, False, 9, 4)
_rnn_case("lstm_gated_b20", nn.LSTM, "models/lstm.attn", 20, 48, 1, False, 20, 3)


_cell_case("grucell_gated", nn.GRUCell, 10, 32, 5)
_cell_case("lstmcell_gated", nn.LSTMCell, 10, 16, 2)


@case("gru_per_gate_gated", "tests/golden/models/gru_per_gate.attn", "forward",
      [("input_size", 6), ("hidden_size", 16)])
def _gru_per_gate_gated():
    m = PerGateGRU(6, 16).float().eval()
    x = torch.randn(6, 4, 6)
    h0 = torch.randn(6, 16)
    out, hn = m(x, h0)
    return state_items(m), [("input", x), ("h_0", h0)], [("output", out), ("h_n", hn)]


@case("lstm_time_major_gated", "tests/golden/models/lstm_time_major.attn", "forward",
      [("input_size", 8), ("hidden_size", 16)])
def _lstm_time_major_gated():
    m = nn.LSTM(8, 16).float().eval()
    x = torch.randn(5, 7, 8)
    h0 = torch.randn(1, 7, 16)
    c0 = torch.randn(1, 7, 16)
    out, (hn, cn) = m(x, (h0, c0))
    cells = []
    h, c = h0, c0
    for t in range(x.shape[0]):
        _, (h, c) = m(x[t:t + 1], (h, c))
        cells.append(c[0])
    return (state_items(m), [("input", x), ("h_0", h0), ("c_0", c0)],
            [("output", out), ("h_n", hn), ("c_n", cn), ("cells", torch.stack(cells)), ("output_again", out)])


class NewOps(nn.Module):
    """The ops added through the op table's recipe on a projection of the input
    (tests/golden/models/new_ops.attn)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)

    def forward(self, x):
        h = self.proj(x)
        return [("softplus_out", nn.functional.softplus(h * 10.0)), ("log_softmax_out", nn.functional.log_softmax(h, -1)),
                ("gelu_out", nn.functional.gelu(h)), ("gelu_tanh_out", nn.functional.gelu(h, approximate="tanh")),
                ("sin_out", torch.sin(h * 3.0)), ("cos_out", torch.cos(h * 3.0)), ("min_out", h.amin(-1)),
                ("rsqrt_out", torch.rsqrt(h.abs() + 0.1)), ("erf_out", torch.erf(h))]


@case("new_ops", "tests/golden/models/new_ops.attn", "forward", [])
def _new_ops():
    m = NewOps().float().eval()
    x = torch.randn(5, 6)
    return state_items(m), [("x", x)], m(x)


# --- Show, attend and tell with the paper's scalar gate -------------------
# Cases from here on seed themselves (or keep the seed of MOVED_CASE_SEEDS), so
# their fixtures do not depend on their place in CASES.

class ShowAttendTellScalarGate(nn.Module):
    """One decoder step from Xu et al. (2015), section 3.1.2 and 4.2.1:
    e_ti = f_att(a_i, h_{t-1}) (the MLP of ShowAttendTell), alpha_t = softmax(e_t),
    beta_t = sigmoid(f_beta(h_{t-1})) a scalar per item, z_t = beta_t * sum_i alpha_ti a_i,
    then the LSTM step on [E y_{t-1}; z_t] and the output layer fc(h_t)."""

    def __init__(self, encoder_dim, decoder_dim, attention_dim, embed_dim, vocab_size):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.f_beta = nn.Linear(decoder_dim, 1)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim)
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def forward(self, features, h, c, prev_word):
        e = self.full_att(torch.tanh(self.encoder_att(features)
                                     + self.decoder_att(h)[:, None, :])).squeeze(-1)
        alpha = torch.softmax(e, dim=-1)
        beta = torch.sigmoid(self.f_beta(h))  # [B, 1]
        z = beta * torch.bmm(alpha.unsqueeze(1), features).squeeze(1)
        h1, c1 = self.decode_step(torch.cat([self.embedding(prev_word), z], dim=-1), (h, c))
        return alpha, z, h1, c1, self.fc(h1), beta


@case("show_attend_tell_scalar", "models/show_attend_tell.attn", "forward", SAT_HP + [("gate", "scalar")])
def _show_attend_tell_scalar():
    torch.manual_seed(5101)
    hp = dict(SAT_HP)
    m = ShowAttendTellScalarGate(**hp).float().eval()
    assert m.f_beta.weight.shape == (1, hp["decoder_dim"])
    B = 3
    features = torch.randn(B, 49, hp["encoder_dim"])
    h = 0.5 * torch.randn(B, hp["decoder_dim"])
    c = 0.5 * torch.randn(B, hp["decoder_dim"])
    prev_word = torch.randint(0, hp["vocab_size"], (B,))
    alpha, z, h1, c1, logits, beta = m(features, h, c, prev_word)
    return (state_items(m),
            [("features", features), ("h", h), ("c", c), ("prev_word", prev_word)],
            [("alpha", alpha), ("context", z), ("h", h1), ("c", c1), ("logits", logits),
             ("beta", beta)])


# --- One BERT encoder layer on given hidden states -------------------------

@case("bert_layer", "models/bert.attn", "encoder_layer",
      [(k, v) for k, v in BERT_TINY if k != "num_hidden_layers"] + [("num_hidden_layers", 3), ("layer", 1)])
def _bert_layer():
    torch.manual_seed(5102)
    hp = dict(BERT_TINY, num_hidden_layers=3)
    m = BertModel(**hp).float().eval()
    randomize_layer_norms_(m)
    check_keys(m, bert_keys(hp["num_hidden_layers"]))
    B, L = 2, 6
    x = torch.randn(B, L, hp["hidden_size"])
    attention_mask = (~length_mask([6, 3], L)).to(torch.int64)
    ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
    layer = m.encoder.layer[1]
    out = layer(x, ext)
    return (state_items(m),
            [("hidden_states", x), ("attention_mask", attention_mask)],
            [("hidden_states", out), ("attention_probs", layer.attention.self.probs)])


# --- HAN weights under other names, bound through a weight map -------------
# A case in MAPS has the weight map its weights are bound through, written to
# fixtures/<case>/map.txt (golden_check applies it).

MAPS = {}

HAN_ELSEWHERE_MAP = """\
# HAN weights from a codebase that keeps the network under `model.` and names
# the projections W_w, W_s and the output layer fc.
^model\\.=
W_w.=word_proj.
W_s.=sent_proj.
fc.=classifier.
"""


@case("han_mapped", "models/han.attn", "forward", HAN_HP)
def _han_mapped():
    torch.manual_seed(5103)
    weights, inputs, outputs = _han()
    names = {"word_proj.": "W_w.", "sent_proj.": "W_s.", "classifier.": "fc."}
    renamed = []
    for k, v in weights:
        for ours, theirs in names.items():
            if k.startswith(ours):
                k = theirs + k[len(ours):]
        renamed.append(("model." + k, v))
    return renamed, inputs, outputs


MAPS["han_mapped"] = HAN_ELSEWHERE_MAP


# ---------------------------------------------------------------------------
# variable-length batches: pack_padded_sequence -> module -> pad_packed_sequence
# ---------------------------------------------------------------------------

def run_packed(m, x, lengths, hidden):
    """What PyTorch users run on a padded batch: the module over the packed
    sequence (any order of lengths), padded back to the full length T."""
    T = x.shape[1]
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hn = m(packed, hidden)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    return out, hn


def _packed_case(name, cls, model, input_size, hidden_size, num_layers, bidir, lengths):
    """The forward_packed entry of rnn/gru/lstm.attn; the padded steps of the
    input hold random values, which the packed module never reads."""
    hp = [("input_size", input_size), ("hidden_size", hidden_size),
          ("num_layers", num_layers), ("bidirectional", int(bidir))]
    B, T = len(lengths), max(lengths)

    def build():
        m = cls(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                bidirectional=bidir).float().eval()
        D = 2 if bidir else 1
        x = torch.randn(B, T, input_size)
        h0 = torch.randn(D * num_layers, B, hidden_size)
        lens = torch.tensor(lengths, dtype=torch.int64)
        inputs = [("input", x), ("h_0", h0)]
        if cls is nn.LSTM:
            c0 = torch.randn(D * num_layers, B, hidden_size)
            out, (hn, cn) = run_packed(m, x, lens, (h0, c0))
            inputs.append(("c_0", c0))
            outputs = [("output", out), ("h_n", hn), ("c_n", cn)]
        else:
            out, hn = run_packed(m, x, lens, h0)
            outputs = [("output", out), ("h_n", hn)]
        inputs.append(("lengths", lens))
        return state_items(m), inputs, outputs

    CASES.append((name, model, "forward_packed", hp, build))


# unsorted lengths with 1 and the full length; hidden 16 takes the fused gate
# kernels (fuse_gates.c), hidden 7 the plain ones
_packed_case("rnn_packed_l2_bidir", nn.RNN, "models/rnn.attn", 3, 7, 2, True, [3, 6, 1, 4])
_packed_case("gru_packed_l2_bidir", nn.GRU, "models/gru.attn", 3, 16, 2, True, [3, 6, 1, 4])
_packed_case("gru_packed_l1", nn.GRU, "models/gru.attn", 4, 7, 1, False, [5, 1, 7])
_packed_case("lstm_packed_l2_bidir", nn.LSTM, "models/lstm.attn", 3, 16, 2, True, [2, 5, 1, 5, 3])
_packed_case("lstm_packed_l1", nn.LSTM, "models/lstm.attn", 4, 7, 1, False, [1, 6, 4])


class PackedSSA(StructuredSelfAttention):
    """The BiLSTM over pack_padded_sequence, padded back with zeros."""

    def forward(self, input_ids, lengths):
        T = input_ids.shape[1]
        H, _ = run_packed(self.lstm, self.embedding(input_ids), lengths, None)
        mask = torch.arange(T)[None, :] >= lengths[:, None]
        scores = self.W_s2(torch.tanh(self.W_s1(H))).transpose(1, 2)
        A = masked_softmax(scores, mask[:, None, :])
        P = torch.bmm(A, A.transpose(1, 2)) - torch.eye(A.shape[1])[None]
        return A, torch.bmm(A, H), (P * P).sum(dim=(1, 2))


@case("ssa_packed", "models/structured_self_attention.attn", "forward_packed", SSA_HP)
def _ssa_packed():
    hp = dict(SSA_HP)
    m = PackedSSA(**hp).float().eval()
    lengths = torch.tensor([4, 6, 1], dtype=torch.int64)
    input_ids = torch.randint(1, hp["vocab_size"], (3, 6)).masked_fill(length_mask([4, 6, 1], 6), 0)
    A, M, penalty = m(input_ids, lengths)
    return (state_items(m), [("input_ids", input_ids), ("lengths", lengths)],
            [("A", A), ("M", M), ("penalty", penalty)])


class PackedHAN(HAN):
    """Both GRUs over pack_padded_sequence: each sentence's own words, each
    document's own sentences."""

    def forward(self, input_ids, word_lengths, sentence_lengths):
        B, N, W = input_ids.shape
        x = self.embedding(input_ids.reshape(B * N, W))
        wl = word_lengths.reshape(B * N)
        h, _ = run_packed(self.word_gru, x, wl, None)
        word_mask = torch.arange(W)[None, :] >= wl[:, None]
        s, word_alpha = self.attend(h, self.word_proj, self.u_w, word_mask)
        hs, _ = run_packed(self.sent_gru, s.reshape(B, N, -1), sentence_lengths, None)
        sentence_mask = torch.arange(N)[None, :] >= sentence_lengths[:, None]
        v, sent_alpha = self.attend(hs, self.sent_proj, self.u_s, sentence_mask)
        return torch.softmax(self.classifier(v), dim=-1), word_alpha.reshape(B, N, W), sent_alpha


@case("han_packed", "models/han.attn", "forward_packed", HAN_HP)
def _han_packed():
    hp = dict(HAN_HP)
    m = PackedHAN(**hp).float().eval()
    B, N, W = 3, 3, 5
    # document 2 has one sentence; its padding sentences have word length 1
    word_lengths = torch.tensor([[5, 3, 2], [4, 5, 1], [2, 1, 1]], dtype=torch.int64)
    sentence_lengths = torch.tensor([3, 2, 1], dtype=torch.int64)
    word_mask = torch.arange(W)[None, None, :] >= word_lengths[:, :, None]
    input_ids = torch.randint(1, hp["vocab_size"], (B, N, W)).masked_fill(word_mask, 0)
    probs, wa, sa = m(input_ids, word_lengths, sentence_lengths)
    return (state_items(m),
            [("input_ids", input_ids), ("word_lengths", word_lengths),
             ("sentence_lengths", sentence_lengths)],
            [("probs", probs), ("word_attention", wa), ("sentence_attention", sa)])


class PackedSeq2Seq(Seq2SeqAttention):
    """The encoder over pack_padded_sequence; attention masked by the lengths."""

    def encode_packed(self, src, lengths):
        memory, h_n = run_packed(self.encoder, self.embedding_src(src), lengths, None)
        return memory, h_n[0]

    def greedy_packed(self, src, lengths, max_len):
        src_mask = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
        memory, state = self.encode_packed(src, lengths)
        prev = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        tokens, attns = [], []
        for _ in range(max_len):
            logits, state, attention = self.decode_step(prev, state, memory, src_mask)
            top2 = logits.topk(2, dim=-1).values
            assert ((top2[:, 0] - top2[:, 1]) > 1e-3).all(), top2
            prev = logits.argmax(dim=-1)
            tokens.append(prev)
            attns.append(attention)
        return torch.stack(tokens, dim=1), torch.stack(attns, dim=1)


def _s2s_packed_setup():
    hp = dict(S2S_HP)
    m = PackedSeq2Seq(**hp).float().eval()
    lengths = torch.tensor([4, 6, 1], dtype=torch.int64)
    src = torch.randint(2, hp["vocab_src"], (3, 6)).masked_fill(length_mask([4, 6, 1], 6), 0)
    return m, src, lengths


@case("s2s_encode_packed", "models/seq2seq_attention.attn", "encode_packed", S2S_HP)
def _s2s_encode_packed():
    m, src, lengths = _s2s_packed_setup()
    memory, state = m.encode_packed(src, lengths)
    return (state_items(m), [("src", src), ("src_lengths", lengths)],
            [("memory", memory), ("state", state)])


@case("s2s_greedy_packed", "models/seq2seq_attention.attn", "greedy_packed", S2S_HP)
def _s2s_greedy_packed():
    m, src, lengths = _s2s_packed_setup()
    tokens, attention = m.greedy_packed(src, lengths, 5)
    return (state_items(m),
            [("src", src), ("src_lengths", lengths), ("max_len", torch.zeros(5, dtype=torch.int64))],
            [("tokens", tokens), ("attention", attention)])


# --- RNNsearch (Bahdanau, Cho, Bengio 2014), from the paper's equations ---

class RNNsearch(nn.Module):
    """models/seq2seq_bahdanau2014.attn: a bidirectional GRU encoder over packed
    sources, s_0 = tanh(W_s h<-_1), additive attention over the annotations
    [h->_j; h<-_j], a GRU-cell decoder on [e(y_{i-1}); c_i], and a maxout
    output layer over [s_i; c_i; e(y_{i-1})]."""

    def __init__(self, vocab_src, vocab_tgt, embed_dim, enc_hidden, dec_hidden, attn_size, maxout_size, bos=1):
        super().__init__()
        self.bos, self.maxout_size = bos, maxout_size
        self.embedding_src = nn.Embedding(vocab_src, embed_dim)
        self.encoder = nn.GRU(embed_dim, enc_hidden, batch_first=True, bidirectional=True)
        self.W_s = nn.Linear(enc_hidden, dec_hidden, bias=False)
        self.embedding_tgt = nn.Embedding(vocab_tgt, embed_dim)
        self.attn = Bahdanau(dec_hidden, 2 * enc_hidden, attn_size)
        self.decoder = nn.GRUCell(embed_dim + 2 * enc_hidden, dec_hidden)
        self.maxout = nn.Linear(dec_hidden + 2 * enc_hidden + embed_dim, 2 * maxout_size)
        self.out = nn.Linear(maxout_size, vocab_tgt)

    def encode(self, src, lengths):
        memory, h_n = run_packed(self.encoder, self.embedding_src(src), lengths, None)
        # h_n[1]: the backward direction after reading back to the first token, h<-_1
        assert torch.equal(h_n[1], memory[:, 0, h_n.shape[-1]:])
        return memory, torch.tanh(self.W_s(h_n[1]))

    def decode_step(self, prev, state, memory, src_mask):
        e = self.embedding_tgt(prev)
        context, alpha = self.attn(state, memory, src_mask)
        state = self.decoder(torch.cat([e, context], dim=-1), state)
        t = self.maxout(torch.cat([state, context, e], dim=-1))
        t = t.reshape(t.shape[0], self.maxout_size, 2).max(dim=-1).values
        return self.out(t), state, alpha

    def greedy(self, src, lengths, steps):
        src_mask = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
        memory, state = self.encode(src, lengths)
        prev = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        tokens, logits, attns = [], [], []
        for _ in range(steps):
            step_logits, state, alpha = self.decode_step(prev, state, memory, src_mask)
            top2 = step_logits.topk(2, dim=-1).values
            assert ((top2[:, 0] - top2[:, 1]) > 1e-3).all(), top2  # no near-ties
            prev = step_logits.argmax(dim=-1)
            tokens.append(prev)
            logits.append(step_logits)
            attns.append(alpha)
        return torch.stack(tokens, dim=1), torch.stack(logits, dim=1), torch.stack(attns, dim=1)


RNNSEARCH_HP = [("vocab_src", 13), ("vocab_tgt", 11), ("embed_dim", 5), ("enc_hidden", 6),
                ("dec_hidden", 7), ("attn_size", 4), ("maxout_size", 3), ("bos", 1)]


def _rnnsearch_setup():
    hp = dict(RNNSEARCH_HP)
    m = RNNsearch(**hp).float().eval()
    check_keys(m, ["embedding_src.weight"] + _gru_keys("encoder.")
               + ["W_s.weight", "embedding_tgt.weight", "attn.W_q.weight", "attn.W_k.weight", "attn.v.weight",
                  "decoder.weight_ih", "decoder.weight_hh", "decoder.bias_ih", "decoder.bias_hh",
                  "maxout.weight", "maxout.bias", "out.weight", "out.bias"])
    lengths = torch.tensor([4, 6, 1, 3], dtype=torch.int64)
    src = torch.randint(2, hp["vocab_src"], (4, 6)).masked_fill(length_mask([4, 6, 1, 3], 6), 0)
    return hp, m, src, lengths


@case("rnnsearch_encode", "models/seq2seq_bahdanau2014.attn", "encode", RNNSEARCH_HP)
def _rnnsearch_encode():
    hp, m, src, lengths = _rnnsearch_setup()
    memory, state = m.encode(src, lengths)
    return (state_items(m), [("src", src), ("src_lengths", lengths)],
            [("memory", memory), ("state", state)])


@case("rnnsearch_decode_step", "models/seq2seq_bahdanau2014.attn", "decode_step", RNNSEARCH_HP)
def _rnnsearch_decode_step():
    hp, m, src, lengths = _rnnsearch_setup()
    memory, _ = m.encode(src, lengths)
    state = 0.5 * torch.randn(src.shape[0], hp["dec_hidden"])
    prev = torch.randint(0, hp["vocab_tgt"], (src.shape[0],))
    src_mask = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
    logits, state1, alpha = m.decode_step(prev, state, memory, src_mask)
    return (state_items(m),
            [("prev_token", prev), ("state", state), ("memory", memory), ("src_lengths", lengths)],
            [("logits", logits), ("state", state1), ("attention", alpha)])


@case("rnnsearch_greedy", "models/seq2seq_bahdanau2014.attn", "greedy", RNNSEARCH_HP)
def _rnnsearch_greedy():
    hp, m, src, lengths = _rnnsearch_setup()
    tokens, logits, attention = m.greedy(src, lengths, 5)
    return (state_items(m),
            [("src", src), ("src_lengths", lengths), ("max_len", torch.zeros(5, dtype=torch.int64))],
            [("tokens", tokens), ("logits", logits), ("attention", attention)])


# ---------------------------------------------------------------------------
# the worked port of docs/FROM_PYTORCH.md: a GPT-2 block (examples/gpt2_block.attn),
# written here from the architecture of transformers' GPT2Block with its key names
# ---------------------------------------------------------------------------

class GPT2Conv1D(nn.Module):
    """transformers' Conv1D(nf, nx): y = x @ weight + bias, weight stored [nx, nf]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.2)
        self.bias = nn.Parameter(torch.randn(nf) * 0.1)

    def forward(self, x):
        return x @ self.weight + self.bias


class GPT2Attention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = GPT2Conv1D(3 * n_embd, n_embd)
        self.c_proj = GPT2Conv1D(n_embd, n_embd)

    def heads(self, x):
        """Queries, keys and values [B, n_head, T, D] of every position."""
        B, T, E = x.shape
        q, k, v = self.c_attn(x).split(E, dim=2)
        return (t.view(B, T, self.n_head, E // self.n_head).permute(0, 2, 1, 3) for t in (q, k, v))

    def forward(self, x):
        B, T, E = x.shape
        q, k, v = self.heads(x)
        w = q @ k.transpose(-1, -2) / math.sqrt(E // self.n_head)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min)).softmax(dim=-1)
        return self.c_proj((w @ v).permute(0, 2, 1, 3).reshape(B, T, E))


class GPT2MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = GPT2Conv1D(4 * n_embd, n_embd)
        self.c_proj = GPT2Conv1D(n_embd, 4 * n_embd)

    def forward(self, x):
        return self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, n_embd, n_head, eps=1e-5):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=eps)
        self.attn = GPT2Attention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, eps=eps)
        self.mlp = GPT2MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@case("gpt2_block", "examples/gpt2_block.attn", "forward", [("n_embd", 16), ("n_head", 4)])
def _gpt2_block():
    m = GPT2Block(16, 4).float().eval()
    with torch.no_grad():
        for ln in (m.ln_1, m.ln_2):
            ln.weight.add_(torch.randn(16) * 0.1)
            ln.bias.add_(torch.randn(16) * 0.1)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        out = m(x)
    return state_items(m), [("hidden_states", x)], [("out", out)]


@case("gpt2_block_decode", "examples/gpt2_block.attn", "decode_step", [("n_embd", 16), ("n_head", 4)])
def _gpt2_block_decode():
    """One step with a cache of 4 positions against the whole sequence of 5
    run at once, as a user without a cache runs it (the last position)."""
    m = GPT2Block(16, 4).float().eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        out = m(x)
        q, k, v = m.attn.heads(m.ln_1(x))
    inputs = [("x_t", x[:, 4:]), ("k_cache", k[:, :, :4].contiguous()), ("v_cache", v[:, :, :4].contiguous())]
    return state_items(m), inputs, [("out", out[:, 4:].contiguous()), ("k_next", k.contiguous()), ("v_next", v.contiguous())]


# ---------------------------------------------------------------------------
# encoder-decoder Transformer (models/transformer.attn): nn.Transformer with
# the translation tutorial's embeddings, positions and generator; PyTorch
# decodes by re-running the whole prefix each step with a causal mask
# ---------------------------------------------------------------------------

class TokenEmbedding(nn.Module):
    def __init__(self, vocab, d_model):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.d_model = d_model

    def forward(self, tokens):
        return self.embedding(tokens) * math.sqrt(self.d_model)


class Seq2SeqTransformer(nn.Transformer):
    """The module stated in models/transformer.attn's header."""

    def __init__(self, vocab_src, vocab_tgt, d_model, nhead, num_encoder_layers,
                 num_decoder_layers, dim_feedforward, activation="relu", norm_first=False,
                 bos=1, maxlen=64):
        super().__init__(d_model, nhead, num_encoder_layers, num_decoder_layers,
                         dim_feedforward, dropout=0.0, activation=activation,
                         batch_first=True, norm_first=norm_first)
        self.src_tok_emb = TokenEmbedding(vocab_src, d_model)
        self.tgt_tok_emb = TokenEmbedding(vocab_tgt, d_model)
        self.generator = nn.Linear(d_model, vocab_tgt)
        self.bos = bos
        # The tutorial's PositionalEncoding table, batch-first ([maxlen, d_model]).
        den = torch.exp(- torch.arange(0, d_model, 2) * math.log(10000) / d_model)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pe = torch.zeros((maxlen, d_model))
        pe[:, 0::2] = torch.sin(pos * den)
        pe[:, 1::2] = torch.cos(pos * den)
        self.register_buffer("pos_embedding", pe, persistent=False)

    def encode(self, src, src_mask):
        x = self.src_tok_emb(src) + self.pos_embedding[:src.shape[1]]
        return self.encoder(x, src_key_padding_mask=src_mask)

    def next_logits(self, ys, memory, src_mask):
        """The usual nn.Transformer decoding step: the whole prefix ys [B, T]
        again, with a causal mask; the last position's logits."""
        T = ys.shape[1]
        x = self.tgt_tok_emb(ys) + self.pos_embedding[:T]
        out = self.decoder(x, memory, tgt_mask=causal_mask(T), memory_key_padding_mask=src_mask)
        return self.generator(out[:, -1])

    def greedy(self, src, src_mask, max_len):
        memory = self.encode(src, src_mask)
        ys = torch.full((src.shape[0], 1), self.bos, dtype=torch.int64)
        steps = []
        for _ in range(max_len):
            logits = self.next_logits(ys, memory, src_mask)
            top2 = logits.topk(2, dim=-1).values
            # No near-ties, so rounding cannot change the argmax.
            assert ((top2[:, 0] - top2[:, 1]) > 1e-3).all(), top2
            ys = torch.cat([ys, logits.argmax(dim=-1)[:, None]], dim=1)
            steps.append(logits)
        return ys[:, 1:], torch.stack(steps, dim=1)

    def heads(self, x):
        B, L, E = x.shape
        H = self.nhead
        return x.reshape(B, L, H, E // H).permute(0, 2, 1, 3)

    def projection(self, mha, x, part):
        E = x.shape[-1]
        w = mha.in_proj_weight[part * E:(part + 1) * E]
        b = mha.in_proj_bias[part * E:(part + 1) * E]
        return self.heads(x @ w.T + b)

    def memory_keys_values(self, memory):
        layers = self.decoder.layers
        return (torch.stack([self.projection(l.multihead_attn, memory, 1) for l in layers]),
                torch.stack([self.projection(l.multihead_attn, memory, 2) for l in layers]))

    def self_keys_values(self, ys, memory, src_mask):
        """Every decoder layer's self-attention keys and values of the prefix
        ys [B, T], from the layers' inputs in a full-prefix run: [N, B, H, T, dh]."""
        T = ys.shape[1]
        x = self.tgt_tok_emb(ys) + self.pos_embedding[:T]
        ks, vs = [], []
        for layer in self.decoder.layers:
            h = layer.norm1(x) if layer.norm_first else x
            ks.append(self.projection(layer.self_attn, h, 1))
            vs.append(self.projection(layer.self_attn, h, 2))
            x = layer(x, memory, tgt_mask=causal_mask(T), memory_key_padding_mask=src_mask)
        return torch.stack(ks), torch.stack(vs)


TF_HP = dict(vocab_src=13, vocab_tgt=11, d_model=16, nhead=4, num_encoder_layers=2,
             num_decoder_layers=2, dim_feedforward=24)


def _transformer_setup(seed, activation, norm_first):
    # Seeded here, so that the fixtures do not depend on the case's place in CASES.
    torch.manual_seed(seed)
    m = Seq2SeqTransformer(**TF_HP, activation=activation, norm_first=norm_first).float()
    _tf_randomize(m)
    # Smaller embeddings and a larger generator than PyTorch's initialisation,
    # so that the greedy tokens depend on the source and on the prefix.
    randomize_(m.src_tok_emb.embedding.weight, 0.25)
    randomize_(m.tgt_tok_emb.embedding.weight, 0.25)
    randomize_(m.generator.weight, 1.0)
    m.train()  # PyTorch's plain path (see _tf_run); dropout is 0
    B, S = 3, 7
    src_mask = length_mask([7, 4, 2], S)
    src = torch.randint(2, TF_HP["vocab_src"], (B, S)).masked_fill(src_mask, 0)
    return m, src, src_mask


def _tf_model_hp(activation, norm_first):
    return list(TF_HP.items()) + [("activation", activation), ("norm_first", int(norm_first)),
                                  ("bos", 1)]


def _transformer_cases():
    relu_post = _tf_model_hp("relu", False)

    @case("transformer_encode", "models/transformer.attn", "encode", relu_post)
    def _encode():
        m, src, src_mask = _transformer_setup(7100, "relu", False)
        memory = m.encode(src, src_mask)
        ks, vs = m.memory_keys_values(memory)
        return (state_items(m), [("src", src), ("src_mask", src_mask)],
                [("memory", memory), ("memory_keys", ks), ("memory_values", vs)])

    def decode_step_case(name, seed, T):
        @case(name, "models/transformer.attn", "decode_step", relu_post)
        def _step():
            m, src, src_mask = _transformer_setup(seed, "relu", False)
            memory = m.encode(src, src_mask)
            mem_k, mem_v = m.memory_keys_values(memory)
            ys = torch.randint(0, TF_HP["vocab_tgt"], (src.shape[0], T + 1))
            past_k, past_v = m.self_keys_values(ys[:, :T], memory, src_mask)
            next_k, next_v = m.self_keys_values(ys, memory, src_mask)
            logits = m.next_logits(ys, memory, src_mask)
            return (state_items(m),
                    [("token", ys[:, T]), ("memory_keys", mem_k), ("memory_values", mem_v),
                     ("src_mask", src_mask), ("self_keys", past_k), ("self_values", past_v)],
                    [("logits", logits), ("self_keys", next_k), ("self_values", next_v)])

    decode_step_case("transformer_decode_step", 7101, 4)
    decode_step_case("transformer_decode_first", 7102, 0)

    def greedy_case(name, seed, activation, norm_first, max_len):
        @case(name, "models/transformer.attn", "greedy", _tf_model_hp(activation, norm_first))
        def _greedy():
            m, src, src_mask = _transformer_setup(seed, activation, norm_first)
            tokens, logits = m.greedy(src, src_mask, max_len)
            return (state_items(m),
                    [("src", src), ("src_mask", src_mask),
                     ("max_len", torch.zeros(max_len, dtype=torch.int64))],
                    [("tokens", tokens), ("logits", logits)])

    greedy_case("transformer_greedy", 7109, "relu", False, 6)
    greedy_case("transformer_greedy_prenorm", 7106, "gelu", True, 5)


_transformer_cases()


@case("onnx_encoder_layer", "tests/golden/models/onnx_encoder_layer.attn", "forward", [])
def _onnx_encoder_layer():
    """nn.TransformerEncoderLayer as torch.onnx.export spells it (decomposed
    LayerNorm and GELU, transposed weights and heads): the exporter patterns
    of compiler/opt/pass_canonical.c against PyTorch's own layer."""
    m = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu",
                                   batch_first=True).float().eval()
    _tf_randomize(m)
    check_keys(m, TF_ENC_KEYS)
    src = torch.randn(3, 6, 16)
    return state_items(m), [("src", src)], [("output", _tf_run(m, src))]


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


# The zoo-2 cases (index >= ZOO2_START) are listed in their own manifest until
# their models land; set ZOO2_MANIFEST = MANIFEST to move them into cases.txt
# (the fixtures do not change).
ZOO2_MANIFEST = os.path.join(HERE, "cases_zoo2.txt")

ZOO2_HEADER = """\
# Golden test manifest for the second batch of zoo models (Transformer layers,
# BERT, local attention, SSA, HAN, show-attend-tell, seq2seq), generated by
# tests/golden/gen.py -- do not edit by hand.  Same format as cases.txt; it is
# kept separate so that ctest (which reads cases.txt) stays green until the
# models exist.  In these fixtures ids are I64 inputs and expected outputs are
# F32 except seq2seq greedy `tokens` (I64, compare exactly).
"""


# Cases that were seeded by their place in CASES when they were added and have
# since moved: they keep that seed, so their fixtures stay what they are.
MOVED_CASE_SEEDS = {name: 1048 + k for k, name in enumerate([
    "rnn_packed_l2_bidir", "gru_packed_l2_bidir", "gru_packed_l1", "lstm_packed_l2_bidir", "lstm_packed_l1",
    "ssa_packed", "han_packed", "s2s_encode_packed", "s2s_greedy_packed", "rnnsearch_encode",
    "rnnsearch_decode_step", "rnnsearch_greedy"])}
MOVED_CASE_SEEDS.update({"gpt2_block": 1048, "gpt2_block_decode": 1049, "onnx_encoder_layer": 1048})


def case_seed(index, name):
    return MOVED_CASE_SEEDS.get(name, 1000 + index)


def manifest_line(name, model, entry, hp):
    hps = ",".join("%s=%s" % (k, v) for k, v in hp) if hp else "-"
    return "%s %s %s %s" % (name, model, entry, hps)


def manifests():
    """[(path, header, [manifest lines])] in writing order."""
    groups = [(MANIFEST, MANIFEST_HEADER, [])]
    if ZOO2_MANIFEST != MANIFEST:
        groups.append((ZOO2_MANIFEST, ZOO2_HEADER, []))
    for i, (name, model, entry, hp, _) in enumerate(CASES):
        g = groups[-1] if i >= ZOO2_START else groups[0]
        g[2].append(manifest_line(name, model, entry, hp))
    return groups


def generate():
    torch.set_num_threads(1)  # avoid any thread-count dependent reductions
    if os.path.isdir(FIXTURES):
        shutil.rmtree(FIXTURES)
    for i, (name, model, entry, hp, build) in enumerate(CASES):
        torch.manual_seed(case_seed(i, name))
        with torch.inference_mode():
            weights, inputs, outputs = build()
        for _, t in outputs:
            assert t.dtype in (torch.float32, torch.int64), name
            assert torch.isfinite(t).all(), name
        d = os.path.join(FIXTURES, name)
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "weights.safetensors"), weights)
        write_safetensors(os.path.join(d, "inputs.safetensors"), inputs)
        write_safetensors(os.path.join(d, "expected.safetensors"), outputs)
        if name in MAPS:
            with open(os.path.join(d, "map.txt"), "w", newline="\n") as f:
                f.write(MAPS[name])
    for path, header, lines in manifests():
        with open(path, "w", newline="\n") as f:
            f.write(header + "\n".join(lines) + "\n")


def check():
    """Re-read every fixture with our own parser and validate it."""
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    mlines = []
    for path, _, expect_lines in manifests():
        with open(path) as f:
            got = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
        assert got == expect_lines, "manifest %s out of date" % path
        mlines += got
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
                if kind == "weights":
                    assert t.dtype == torch.float32, (p, tn)
                elif kind == "expected":
                    assert t.dtype in (torch.float32, torch.int64), (p, tn)
                else:
                    assert t.dtype in (torch.float32, torch.bool, torch.int64), (p, tn)
                if t.dtype == torch.float32:
                    assert torch.isfinite(t).all(), (p, tn)
                if t.dtype == torch.bool and t.dim() >= 1 and t.shape[-1] > 0:
                    assert not t.all(dim=-1).any(), "%s/%s masks a whole row" % (p, tn)
    # Recompute everything in memory and compare with what is on disk.
    torch.set_num_threads(1)
    for i, (name, model, entry, hp, build) in enumerate(CASES):
        torch.manual_seed(case_seed(i, name))
        with torch.inference_mode():
            parts = build()
        d = os.path.join(FIXTURES, name)
        for kind, items in zip(("weights", "inputs", "expected"), parts):
            disk = read_safetensors(os.path.join(d, kind + ".safetensors"))
            assert list(disk.keys()) == [k for k, _ in items], (name, kind)
            for k, t in items:
                assert disk[k].dtype == t.dtype and disk[k].shape == t.shape, (name, k)
                assert torch.equal(disk[k], t), (name, kind, k)
        map_path = os.path.join(d, "map.txt")
        if name in MAPS:
            with open(map_path) as f:
                assert f.read() == MAPS[name], "%s out of date" % map_path
        else:
            assert not os.path.exists(map_path), "stray %s" % map_path
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
