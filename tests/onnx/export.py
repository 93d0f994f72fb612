#!/usr/bin/python3
"""torch.onnx.export of the PyTorch equivalent of every zoo model, with
PyTorch's outputs at two shapes: the fixtures of the ctests onnx.export.*
(tests/onnx/check_export.cmake), which import each file with `attnc import`
and run it on the JIT and the interpreter.

    /usr/bin/python3 tests/onnx/export.py           # regenerate and check
    /usr/bin/python3 tests/onnx/export.py --check   # check what is on disk

Needs python3-torch (1.13) and python3-onnx only to regenerate; the files
are committed. Writes, for every case C and opset N in (14, 17):

    tests/onnx/models/C.opsetN.onnx       weights inside, batch and
                                          sequence axes dynamic (dim_params)
    tests/onnx/fixtures/C/{a,b}/inputs.safetensors
    tests/onnx/fixtures/C/{a,b}/expected.safetensors
    tests/onnx/cases.txt                  one line per case and opset

The two shapes a and b differ in batch and in sequence length. Modules run
in eval mode with dropout 0; under torch.no_grad the Transformer layers and
nn.MultiheadAttention would take PyTorch's fused fast path, which rounds
differently, so the expected outputs are computed with autograd on (as the
exporter traces them).
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODELS = os.path.join(HERE, "models")
FIXTURES = os.path.join(HERE, "fixtures")
MANIFEST = os.path.join(HERE, "cases.txt")
OPSETS = (14, 17)
MAX_FILE_BYTES = 96 * 1024  # the graph of tiny BERT alone is 55 KB of nodes

sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import gen  # noqa: E402  (the golden set's modules and safetensors helpers)

CASES = []  # (name, zoo model it stands for, module builder, input names, output names, dynamic axes, shapes)


def case(name, zoo, inputs, outputs, dynamic):
    """dynamic: {tensor name: {axis: dim_param}}; the builder returns the
    module and a function of (B, T) giving the inputs in order."""
    def register(build):
        CASES.append((name, zoo, build, inputs, outputs, dynamic))
        return build
    return register


def randomize_(module):
    # Initial LayerNorm weights and biases are 1 and 0 and the exporter
    # shares initializers whose values are equal: perturb every parameter.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


def lengths_mask(B, T):
    """bool [B, T], true past each row's length; every row keeps a token."""
    lengths = torch.randint(1, T + 1, (B,))
    lengths[0] = T
    return torch.arange(T)[None, :] >= lengths[:, None]


BT = {0: "B", 1: "T"}


class Recurrent(nn.Module):
    """nn.GRU / nn.RNN (input, h_0) or nn.LSTM (input, (h_0, c_0)) with the
    states as separate inputs and outputs."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, input, h_0, c_0=None):
        if c_0 is None:
            return self.rnn(input, h_0)
        output, (h_n, c_n) = self.rnn(input, (h_0, c_0))
        return output, h_n, c_n


def _rnn(cls, name, with_c):
    inputs = ["input", "h_0"] + (["c_0"] if with_c else [])
    outputs = ["output", "h_n"] + (["c_n"] if with_c else [])
    dynamic = {"input": BT, "h_0": {1: "B"}, "output": BT, "h_n": {1: "B"}}
    if with_c:
        dynamic.update({"c_0": {1: "B"}, "c_n": {1: "B"}})

    @case(name, "models/%s.attn" % name, inputs, outputs, dynamic)
    def build():
        m = Recurrent(cls(8, 16, num_layers=2, bidirectional=True, batch_first=True))

        def make(B, T):
            x = [torch.randn(B, T, 8), 0.5 * torch.randn(4, B, 16)]
            return x + ([0.5 * torch.randn(4, B, 16)] if with_c else [])
        return m, make


_rnn(nn.GRU, "gru", False)
_rnn(nn.LSTM, "lstm", True)
_rnn(nn.RNN, "rnn", False)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention over one sequence with a key padding mask."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x, key_padding_mask):
        return self.mha(x, x, x, key_padding_mask=key_padding_mask)


@case("mha", "models/mha.attn", ["x", "key_padding_mask"], ["attn_output", "attn_output_weights"],
      {"x": BT, "key_padding_mask": BT, "attn_output": BT, "attn_output_weights": {0: "B", 1: "T", 2: "T"}})
def _mha():
    return SelfAttention(), lambda B, T: [torch.randn(B, T, 16), lengths_mask(B, T)]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True)

    def forward(self, src, src_key_padding_mask):
        return self.layer(src, src_key_padding_mask=src_key_padding_mask)


@case("transformer_encoder_layer", "models/transformer_encoder_layer.attn", ["src", "src_key_padding_mask"],
      ["output"], {"src": BT, "src_key_padding_mask": BT, "output": BT})
def _encoder():
    return Encoder(), lambda B, T: [torch.randn(B, T, 16), lengths_mask(B, T)]


class Decoder(nn.Module):
    """nn.TransformerDecoderLayer with the causal mask built from the target's length."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True)

    def forward(self, tgt, memory):
        T = tgt.shape[1]
        causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        return self.layer(tgt, memory, tgt_mask=causal)


@case("transformer_decoder_layer", "models/transformer_decoder_layer.attn", ["tgt", "memory"], ["output"],
      {"tgt": BT, "memory": {0: "B", 1: "S"}, "output": BT})
def _decoder():
    return Decoder(), lambda B, T: [torch.randn(B, T, 16), torch.randn(B, T + 2, 16)]


class Bert(nn.Module):
    """The golden set's BERT (tests/golden/gen.py, bert_tiny)."""

    def __init__(self):
        super().__init__()
        self.bert = gen.BertModel(**dict(gen.BERT_TINY))

    def forward(self, input_ids, token_type_ids, attention_mask):
        return self.bert(input_ids, token_type_ids, attention_mask)


@case("bert", "models/bert.attn", ["input_ids", "token_type_ids", "attention_mask"],
      ["last_hidden_state", "pooler_output"],
      {"input_ids": BT, "token_type_ids": BT, "attention_mask": BT, "last_hidden_state": BT,
       "pooler_output": {0: "B"}})
def _bert():
    hp = dict(gen.BERT_TINY)

    def make(B, T):
        pad = lengths_mask(B, T)
        ids = torch.randint(1, hp["vocab_size"], (B, T)).masked_fill(pad, 0)
        types = torch.randint(0, hp["type_vocab_size"], (B, T)).masked_fill(pad, 0)
        return [ids, types, (~pad).to(torch.int64)]
    return Bert(), make


class Seq2SeqEncoder(nn.Module):
    """The golden set's seq2seq encoder (embedding + GRU; gen.py, s2s_encode)."""

    def __init__(self):
        super().__init__()
        self.s2s = gen.Seq2SeqAttention(**dict(gen.S2S_HP))

    def forward(self, src):
        return self.s2s.encode(src, None)


@case("seq2seq_encoder", "models/seq2seq_attention.attn", ["src"], ["memory", "state"],
      {"src": BT, "memory": BT, "state": {0: "B"}})
def _s2s_encoder():
    hp = dict(gen.S2S_HP)
    return Seq2SeqEncoder(), lambda B, T: [torch.randint(2, hp["vocab_src"], (B, T))]


SHAPES = {"a": (2, 5), "b": (3, 7)}


def case_seed(index):
    return 2000 + index


def build_case(index):
    """The module (eval mode, randomized) and its inputs and outputs per shape."""
    name, _, build, inputs, outputs, _ = CASES[index]
    torch.manual_seed(case_seed(index))
    module, make = build()
    randomize_(module)
    module.eval()
    runs = {}
    for tag, (B, T) in SHAPES.items():
        args = make(B, T)
        with torch.enable_grad():
            got = module(*args)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(outputs), name
        runs[tag] = (list(zip(inputs, args)), [(n, t.detach()) for n, t in zip(outputs, got)])
    return module, runs


def model_path(name, opset):
    return os.path.join(MODELS, "%s.opset%d.onnx" % (name, opset))


def manifest_lines():
    return ["%s %d %s" % (c[0], opset, c[1]) for c in CASES for opset in OPSETS]


MANIFEST_HEADER = """\
# ONNX export cases, generated by tests/onnx/export.py -- do not edit by hand.
#   <case> <opset> <the zoo model it stands for>
# tests/onnx/models/<case>.opset<N>.onnx is PyTorch's export; fixtures in
# tests/onnx/fixtures/<case>/{a,b}/{inputs,expected}.safetensors (two batch
# and sequence shapes), compared at atol = rtol = 1e-5.
"""


def generate():
    torch.set_num_threads(1)
    os.makedirs(MODELS, exist_ok=True)
    for i, (name, _, _, inputs, outputs, dynamic) in enumerate(CASES):
        module, runs = build_case(i)
        example = tuple(t for _, t in runs["a"][0])
        for opset in OPSETS:
            torch.onnx.export(module, example, model_path(name, opset), opset_version=opset,
                              input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                              do_constant_folding=True)
        for tag, (ins, outs) in runs.items():
            d = os.path.join(FIXTURES, name, tag)
            os.makedirs(d, exist_ok=True)
            gen.write_safetensors(os.path.join(d, "inputs.safetensors"), ins)
            gen.write_safetensors(os.path.join(d, "expected.safetensors"), outs)
    with open(MANIFEST, "w", newline="\n") as f:
        f.write(MANIFEST_HEADER + "\n".join(manifest_lines()) + "\n")


def check():
    """The manifest, the models' inputs and outputs, and the fixtures against
    the modules recomputed in memory."""
    import onnx
    with open(MANIFEST) as f:
        got = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    assert got == manifest_lines(), "manifest out of date"
    torch.set_num_threads(1)
    total = 0
    for i, (name, _, _, inputs, outputs, _) in enumerate(CASES):
        for opset in OPSETS:
            path = model_path(name, opset)
            size = os.path.getsize(path)
            assert size < MAX_FILE_BYTES, "%s is %d bytes" % (path, size)
            total += size
            m = onnx.load(path)
            onnx.checker.check_model(m)
            assert m.opset_import[0].version == opset, path
            assert [v.name for v in m.graph.input] == inputs, path
            assert [v.name for v in m.graph.output] == outputs, path
        _, runs = build_case(i)
        for tag, (ins, outs) in runs.items():
            for kind, items in (("inputs", ins), ("expected", outs)):
                p = os.path.join(FIXTURES, name, tag, kind + ".safetensors")
                total += os.path.getsize(p)
                disk = gen.read_safetensors(p)
                assert list(disk) == [k for k, _ in items], (p, list(disk))
                for k, t in items:
                    assert torch.equal(disk[k], t), (p, k)
                    assert t.dtype != torch.float32 or torch.isfinite(t).all(), (p, k)
    print("ok: %d cases, %d bytes of models and fixtures" % (len(manifest_lines()), total))


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
