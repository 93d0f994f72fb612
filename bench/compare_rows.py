"""The rows of bench/compare: for each, the PyTorch module, its inputs, the attn
model and entry that compute the same thing, and what the ONNX export covers.

Every module's forward takes the row's inputs in order and returns its outputs
in the attn entry's output order, so that one call serves PyTorch, the export
and the reference outputs. Weights are the module's state_dict, whose keys are
the attn model's weight names.
"""
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen import Bahdanau, BertModel  # noqa: E402  (the golden tests' reference modules)

E_RNN, H_RNN, T_RNN = 256, 512, 64
S2S = dict(vocab_src=8000, vocab_tgt=8000, embed_dim=256, hidden_size=512, attn_size=512, bos=1)
S2S_SRC, S2S_STEPS = 64, 32
BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)


class GRU(nn.GRU):
    def forward(self, input, h_0):
        return super().forward(input, h_0)


class LSTM(nn.LSTM):
    def forward(self, input, h_0, c_0):
        y, (h, c) = super().forward(input, (h_0, c_0))
        return y, h, c


class PackedLSTM(nn.LSTM):
    """nn.LSTM over pack_padded_sequence (lengths in any order), padded back to T:
    models/lstm.attn's forward_packed."""

    def forward(self, input, h_0, c_0, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(input, lengths, batch_first=True, enforce_sorted=False)
        y, (h, c) = super().forward(packed, (h_0, c_0))
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=input.shape[1])
        return y, h, c


class Seq2Seq(nn.Module):
    """models/seq2seq_attention.attn: GRU encoder, GRU-cell decoder with Bahdanau attention."""

    def __init__(self, vocab_src, vocab_tgt, embed_dim, hidden_size, attn_size, bos):
        super().__init__()
        self.bos = bos
        self.embedding_src = nn.Embedding(vocab_src, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.embedding_tgt = nn.Embedding(vocab_tgt, embed_dim)
        self.attn = Bahdanau(hidden_size, hidden_size, attn_size)
        self.decoder = nn.GRUCell(embed_dim + hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_tgt)

    def encode(self, src):
        memory, h_n = self.encoder(self.embedding_src(src))
        return memory, h_n[0]

    def decode_step(self, prev_token, state, memory, src_mask):
        context, attention = self.attn(state, memory, src_mask)
        state = self.decoder(torch.cat([self.embedding_tgt(prev_token), context], dim=-1), state)
        return self.out(state), state, attention

    def forward(self, src, src_mask, max_len):
        memory, state = self.encode(src)
        prev = torch.full((src.shape[0],), self.bos, dtype=torch.int64)
        tokens, attns = [], []
        for _ in range(max_len.shape[0]):
            logits, state, attention = self.decode_step(prev, state, memory, src_mask)
            prev = logits.argmax(dim=-1)
            tokens.append(prev)
            attns.append(attention)
        return torch.stack(tokens, dim=1), torch.stack(attns, dim=1)


class Encode(nn.Module):
    """The exportable encoder half of Seq2Seq."""

    def __init__(self, s2s):
        super().__init__()
        self.s2s = s2s

    def forward(self, src):
        return self.s2s.encode(src)


class DecodeStep(nn.Module):
    """One exportable decoder step of Seq2Seq (the greedy loop runs around it)."""

    def __init__(self, s2s):
        super().__init__()
        self.s2s = s2s

    def forward(self, prev_token, state, memory, src_mask):
        return self.s2s.decode_step(prev_token, state, memory, src_mask)


class MHA(nn.MultiheadAttention):
    """Self-attention: the one input is query, key and value."""

    def forward(self, x, key_padding_mask):
        return super().forward(x, x, x, key_padding_mask=key_padding_mask)


class EncoderLayer(nn.TransformerEncoderLayer):
    def forward(self, src):
        return (super().forward(src),)


class Bert(BertModel):
    def forward(self, input_ids, token_type_ids, attention_mask):
        return super().forward(input_ids, token_type_ids, attention_mask)


class SDPA(nn.Module):
    """softmax(Q Kᵀ / √d) V, the output only."""

    def forward(self, query, key, value):
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(query.shape[-1])
        return (torch.matmul(torch.softmax(scores, dim=-1), value),)


class MatMul(nn.Module):
    """x @ Wᵀ: one product with a weight (an nn.Linear without bias, held as a
    child so that PyTorch's quantize_dynamic finds it)."""

    def __init__(self, k, n):
        super().__init__()
        self.linear = nn.Linear(k, n, bias=False)

    def forward(self, x):
        return (self.linear(x),)


class Row:
    """name; build() -> module; inputs() -> [(name, tensor)]; attn: (model, entry,
    hyperparameters, {attn input: row input}); outputs: attn's output names;
    bound: [(weight bytes read per step, steps)] or None; memory: report RSS;
    imported: also run the ONNX export that ORT runs through `attnc import`."""

    def __init__(self, name, build, inputs, model, entry, hp, outputs, attn_inputs=None, bound=None,
                 memory=False, onnx_note="", imported=False):
        self.name, self.build, self.inputs = name, build, inputs
        self.model, self.entry, self.hp, self.outputs = model, entry, hp, outputs
        self.attn_inputs, self.bound, self.memory, self.onnx_note = attn_inputs, bound, memory, onnx_note
        self.imported = imported


def _rnn(name, cls, gates, batch, imported=False):
    def inputs():
        x = [("input", torch.randn(batch, T_RNN, E_RNN)), ("h_0", 0.5 * torch.randn(1, batch, H_RNN))]
        return x + ([("c_0", 0.5 * torch.randn(1, batch, H_RNN))] if gates == 4 else [])
    outs = ["output", "h_n"] + (["c_n"] if gates == 4 else [])
    bound = [(gates * H_RNN * H_RNN * 4, T_RNN)] if batch == 1 else None
    return Row("%s b%d" % (name, batch), lambda: cls(E_RNN, H_RNN, batch_first=True), inputs,
               "models/%s.attn" % name.lower(), "forward", {}, outs, bound=bound, imported=imported)


def _lstm_packed(batch):
    """LSTM over a padded batch with lengths drawn uniformly from 1..T (seeded per row)."""
    def inputs():
        x = _rnn("LSTM", LSTM, 4, batch).inputs()
        return x + [("lengths", torch.randint(1, T_RNN + 1, (batch,), dtype=torch.int64))]
    return Row("LSTM b%d packed" % batch, lambda: PackedLSTM(E_RNN, H_RNN, batch_first=True), inputs,
               "models/lstm.attn", "forward_packed", {}, ["output", "h_n", "c_n"],
               onnx_note="PyTorch: pack_padded_sequence -> nn.LSTM -> pad_packed_sequence")


def _s2s_inputs():
    return [("src", torch.randint(2, S2S["vocab_src"], (1, S2S_SRC))),
            ("src_mask", torch.zeros(1, S2S_SRC, dtype=torch.bool)),
            ("max_len", torch.zeros(S2S_STEPS, dtype=torch.int64))]


def _s2s_bound():
    h, e, a, v = S2S["hidden_size"], S2S["embed_dim"], S2S["attn_size"], S2S["vocab_tgt"]
    # encoder: W_hh per token; decoder step: W_q, W_k (over the memory), the GRU cell, the output layer
    step = 4 * (2 * a * h + 3 * h * (e + h) + 3 * h * h + v * h)
    return [(3 * h * h * 4, S2S_SRC), (step, S2S_STEPS)]


def _mha(L, imported=False):
    return Row("MHA 768/12 L%d" % L, lambda: MHA(768, 12, batch_first=True),
               lambda: [("x", torch.randn(1, L, 768)), ("key_padding_mask", torch.zeros(1, L, dtype=torch.bool))],
               "models/mha.attn", "forward", {"embed_dim": 768, "num_heads": 12},
               ["attn_output", "attn_output_weights"],
               attn_inputs={"query": "x", "key": "x", "value": "x", "key_padding_mask": "key_padding_mask"},
               imported=imported)


def _enc(batch, imported=False):
    return Row("EncLayer 768 b%d L128" % batch,
               lambda: EncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True),
               lambda: [("src", torch.randn(batch, 128, 768))],
               "models/transformer_encoder_layer.attn", "forward_nomask",
               {"d_model": 768, "nhead": 12, "dim_feedforward": 3072, "activation": "gelu"}, ["output"],
               imported=imported)


def _bert_inputs():
    return [("input_ids", torch.randint(1, BERT_BASE["vocab_size"], (1, 128))),
            ("token_type_ids", torch.zeros(1, 128, dtype=torch.int64)),
            ("attention_mask", torch.ones(1, 128, dtype=torch.int64))]


def _sdpa(L):
    return Row("SDPA d64 L%d" % L, SDPA, lambda: [(n, torch.randn(1, 1, L, 64)) for n in ("query", "key", "value")],
               "bench/models/sdpa_nomask.attn", "forward", {}, ["output"], memory=True)


def _matmul(m, k, n):
    return Row("MatMul %dx%dx%d" % (m, k, n), lambda: MatMul(k, n), lambda: [("x", torch.randn(m, k))],
               "bench/models/matmul.attn", "forward", {"in_features": k, "out_features": n}, ["y"])


# the shapes of bench_matmul (M×K×N)
MATMUL_SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (128, 768, 768),
                 (128, 768, 2304),
                 (128, 768, 3072), (128, 3072, 768), (1, 512, 1536), (32, 512, 1536), (512, 64, 512),
                 (512, 512, 64), (32, 512, 2048), (2048, 256, 2048)]

ROWS = [
    _rnn("GRU", GRU, 3, 1), _rnn("GRU", GRU, 3, 32), _rnn("LSTM", LSTM, 4, 1), _rnn("LSTM", LSTM, 4, 32, True),
    Row("seq2seq greedy 64->32", lambda: Seq2Seq(**S2S), _s2s_inputs, "models/seq2seq_attention.attn", "greedy",
        {k: v for k, v in S2S.items()}, ["tokens", "attention"], bound=_s2s_bound(),
        onnx_note="ORT: encoder + one decoder step exported; the 32-step greedy loop (argmax fed back) runs in node"),
    _mha(128), _mha(512, True),
    _enc(1), _enc(8, True),
    Row("BERT-base 12L b1 L128", lambda: Bert(**BERT_BASE), _bert_inputs, "models/bert.attn", "forward",
        {k: v for k, v in BERT_BASE.items()}, ["last_hidden_state", "pooler_output"], imported=True),
    _sdpa(1024), _sdpa(2048), _sdpa(4096),
    _lstm_packed(32),  # before the matmul shapes, so the rows before keep their seeds
] + [_matmul(*s) for s in MATMUL_SHAPES]


def find(name):
    for r in ROWS:
        if r.name == name:
            return r
    raise KeyError(name)
