"""attn.import_onnx: models built with the onnx package (python3-onnx),
imported, run on both engines and compared with numpy; the ops the
conformance suite covers only in float64 (Einsum, CumSum) are checked here
in float32; shape subgraphs become symbolic dims; bad files are refused."""

import os

import numpy as np
import pytest

import attn
from conftest import REPO

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

if "MatMul" not in attn.onnx_ops():
    pytest.skip("this libattn is built without the ONNX importer", allow_module_level=True)

SEEDS = os.path.join(REPO, "tests", "fuzz", "corpus", "onnx")


def _save(tmp_path, nodes, inputs, outputs, inits=(), opset=14):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    return str(path)


def _run(imp, feeds):
    outs = []
    for backend in ("jit", "interp"):
        p = imp.model().compile("forward", backend=backend)
        res = p.run({name: feeds[o] for name, o in zip(p.inputs, imp.inputs)})
        outs.append(list(res.values()))
    return outs


def _vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


@pytest.mark.parametrize("eq,sa,sb", [("bhid,bhjd->bhij", (2, 3, 4, 5), (2, 3, 6, 5)),
                                      ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
                                      ("ij,kj->ik", (3, 4), (5, 4)),
                                      ("bnqd,bnkd->bnqk", (1, 2, 3, 4), (1, 2, 5, 4)),
                                      ("blhd,bmhd->bhlm", (2, 3, 2, 4), (2, 5, 2, 4))])
def test_einsum_contractions(tmp_path, eq, sa, sb):
    path = _save(tmp_path, [helper.make_node("Einsum", ["a", "b"], ["y"], equation=eq)],
                 [_vi("a", sa), _vi("b", sb)], [_vi("y", None)], opset=12)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa, np.float32), rng.standard_normal(sb, np.float32)
    want = np.einsum(eq, a, b)
    for got in _run(attn.import_onnx(path), {"a": a, "b": b}):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(tmp_path, exclusive, reverse):
    axis = numpy_helper.from_array(np.array(1, np.int64), "axis")
    path = _save(tmp_path, [helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)],
                 [_vi("x", (2, 5, 3))], [_vi("y", None)], inits=[axis])
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    c = np.flip(x, 1) if reverse else x
    want = np.cumsum(c, axis=1) - (c if exclusive else 0)
    want = np.flip(want, 1) if reverse else want
    for got in _run(attn.import_onnx(path), {"x": x}):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


def test_shape_subgraph_becomes_dims(tmp_path):
    """Shape -> Gather -> Concat -> Reshape of a dynamic input is reshape(x, [batch * seq, 4])."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
             helper.make_node("Gather", ["s", "i1"], ["t"], axis=0),
             helper.make_node("Mul", ["b", "t"], ["bt"]),
             helper.make_node("Unsqueeze", ["bt", "ax"], ["bt1"]),
             helper.make_node("Concat", ["bt1", "four"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"], name="/enc/layer.0/Reshape")]
    path = _save(tmp_path, nodes, [_vi("x", ("batch", "seq", 4))], [_vi("y", None)],
                 inits=[c("i0", 0), c("i1", 1), c("ax", [0]), c("four", [4])])
    imp = attn.import_onnx(path)
    assert "entry forward(x: f32[batch, seq, 4])" in imp.source
    assert "reshape(x, [batch * seq, 4])" in imp.source
    assert 'scope "enc.layer.0"' in imp.source
    assert imp.weights == {}  # the shape constants are folded, not weights
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    for got in _run(imp, {"x": x}):
        np.testing.assert_array_equal(got[0], x.reshape(6, 4))


def test_initializers_are_weights_by_name(tmp_path):
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "encoder.layer.0.dense.weight")
    b = numpy_helper.from_array(np.ones(3, np.float32), "encoder.layer.0.dense.bias")
    path = _save(tmp_path, [helper.make_node("Gemm", ["input.1", "encoder.layer.0.dense.weight",
                                                       "encoder.layer.0.dense.bias"], ["y"], transB=1)],
                 [_vi("input.1", (2, 4))], [_vi("y", None)], inits=[w, b])
    imp = attn.import_onnx(path)  # the graph's input "input.1" is sanitised in the source
    assert set(imp.weights) == {"encoder.layer.0.dense.weight", "encoder.layer.0.dense.bias"}
    assert "# input  input_1" in imp.source and "ONNX 'input.1'" in imp.source
    x = np.ones((2, 4), np.float32)
    for got in _run(imp, {"input.1": x}):
        np.testing.assert_allclose(got[0], x @ numpy_helper.to_array(w).T + 1)


def test_input_names_keep_their_spelling_without_recurrent_ops(tmp_path):
    """Names the recurrent ops' scan bodies use ("pad", "h", "c") are taken only in graphs with such an op:
    a padding-mask input called "pad" stays "pad" in a graph without one, and is renamed in one with a GRU."""
    nodes = [helper.make_node("Where", ["pad", "zero", "h"], ["y"])]
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    path = _save(tmp_path, nodes, [_vi("pad", (2, 3), TensorProto.BOOL), _vi("h", (2, 3))], [_vi("y", None)],
                 inits=[zero])
    imp = attn.import_onnx(path)
    assert "entry forward(pad: bool[2, 3], h: f32[2, 3])" in imp.source
    h = np.arange(6, dtype=np.float32).reshape(2, 3)
    pad = np.array([[0, 1, 0], [1, 1, 0]], bool)
    for got in _run(imp, {"pad": pad, "h": h}):
        np.testing.assert_array_equal(got[0], np.where(pad, 0, h))
    w = numpy_helper.from_array(np.ones((1, 6, 3), np.float32), "W")
    r = numpy_helper.from_array(np.ones((1, 6, 2), np.float32), "R")
    gru = _save(tmp_path, [helper.make_node("GRU", ["h", "W", "R"], ["ys", "h_n"], hidden_size=2)],
                [_vi("h", (4, 2, 3))], [_vi("ys", None), _vi("h_n", None)], inits=[w, r])
    assert "entry forward(h_2: f32[4, 2, 3])" in attn.import_onnx(gru).source


def test_model_from_onnx_runs_a_torch_export():
    """attn.Model(onnx=...) (attn_model_load_onnx): the seed corpus's attention export, source and weights
    in one call, on both engines, the same as import_onnx's source and weights."""
    path = os.path.join(SEEDS, "attention.onnx")
    imp = attn.import_onnx(path)
    x = np.random.default_rng(2).standard_normal((2, 5, 4)).astype(np.float32)
    a, b = _run(imp, {imp.inputs[0]: x})
    m = attn.Model(onnx=path)
    p = m.compile("forward")
    c = list(p.run({p.inputs[0]: x}).values())
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a[0], c[0])
    assert a[0].shape == (2, 5, 4)


def test_unknown_op_is_refused(tmp_path):
    path = _save(tmp_path, [helper.make_node("Mod", ["x", "x"], ["y"], name="/head/Mod")],
                 [_vi("x", (2, 3))], [_vi("y", None)])
    with pytest.raises(attn.AttnError, match=r"node 0 '/head/Mod' \(Mod, opset 14\): unsupported op Mod"):
        attn.import_onnx(path)


def test_reshape_shape_given_as_input_needs_its_value(tmp_path):
    path = _save(tmp_path, [helper.make_node("Reshape", ["x", "s"], ["y"])],
                 [_vi("x", (2, 3)), _vi("s", (2,), TensorProto.INT64)], [_vi("y", None)])
    with pytest.raises(attn.AttnError, match="must be known when the model is imported"):
        attn.import_onnx(path)
    imp = attn.import_onnx(path, known={"s": np.array([3, 2], np.int64)})
    assert imp.inputs == ["x"]  # s is folded into the reshape
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for got in _run(imp, {"x": x}):
        np.testing.assert_array_equal(got[0], x.reshape(3, 2))


def test_slice_negative_steps(tmp_path):
    """Slice with negative steps (torch.flip exports ends = INT64_MIN): each reversed axis is a gather at
    descending indices, on a symbolic axis too; ONNX clamps the bounds as numpy's slicing does."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    lo = np.iinfo(np.int64).min
    nodes = [helper.make_node("Slice", ["x", "s1", "e1", "a1", "k1"], ["flip"]),
             helper.make_node("Slice", ["x", "s2", "e2", "a2", "k2"], ["mixed"]),
             helper.make_node("Slice", ["x", "s3", "e3", "a3", "k3"], ["clamped"])]
    inits = [c("s1", [-1, 5]), c("e1", [lo, 0]), c("a1", [1, 2]), c("k1", [-1, -2]),
             c("s2", [-2, 0]), c("e2", [-5, 6]), c("a2", [1, -1]), c("k2", [-1, 2]),
             c("s3", [10]), c("e3", [-100]), c("a3", [2]), c("k3", [-3])]
    path = _save(tmp_path, nodes, [_vi("x", ("batch", "seq", 6))],
                 [_vi("flip", None), _vi("mixed", None), _vi("clamped", None)], inits=inits, opset=13)
    imp = attn.import_onnx(path)
    assert "arange(seq)[-1] - arange(seq)" in imp.source  # readable: the indices, last to first
    assert "5 - 2 * arange(3)" in imp.source
    assert imp.weights == {}
    for shape in ((2, 5, 6), (3, 7, 6)):
        x = np.random.default_rng(shape[1]).standard_normal(shape).astype(np.float32)
        want = [x[:, ::-1, 5:0:-2], x[:, -2:-5:-1, 0:6:2], x[:, :, 10:-100:-3]]
        for got in _run(imp, {"x": x}):
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


def test_slice_step_zero_is_refused(tmp_path):
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    path = _save(tmp_path, [helper.make_node("Slice", ["x", "s", "e", "a", "k"], ["y"], name="/m/Slice")],
                 [_vi("x", (4, 3))], [_vi("y", None)], inits=[c("s", [0]), c("e", [3]), c("a", [0]), c("k", [0])])
    with pytest.raises(attn.AttnError,
                       match=r"'/m/Slice' \(Slice, opset 14\): step 0 on axis 0: a slice needs a step other than 0"):
        attn.import_onnx(path)


@pytest.mark.parametrize("outputs", [1, 3])
def test_batchnorm_training_mode(tmp_path, outputs):
    """training_mode = 1: normalised with the batch's mean and population variance per channel; the running
    statistics move by momentum towards them (ONNX's reference), on a rank-3 input."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    s, b, mean = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
    var = rng.random(3).astype(np.float32)
    names = ["y", "running_mean", "running_var"][:outputs]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "mean", "var"], names, training_mode=1,
                            momentum=0.8, epsilon=1e-3)
    path = _save(tmp_path, [node], [_vi(n, (3,)) if n != "x" else _vi("x", x.shape) for n in
                                    ["x", "s", "b", "mean", "var"]], [_vi(n, None) for n in names], opset=15)
    m, v = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    y = (x - m[:, None]) / np.sqrt(v[:, None] + 1e-3) * s[:, None] + b[:, None]
    want = [y, mean * 0.8 + m * 0.2, var * 0.8 + v * 0.2][:outputs]
    imp = attn.import_onnx(path)
    for got in _run(imp, {"x": x, "s": s, "b": b, "mean": mean, "var": var}):
        assert len(got) == outputs
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_batchnorm_statistics_outputs_need_training_mode(tmp_path):
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "mean", "var"], ["y", "rm", "rv"])
    path = _save(tmp_path, [node], [_vi("x", (2, 3))] + [_vi(n, (3,)) for n in ["s", "b", "mean", "var"]],
                 [_vi(n, None) for n in ["y", "rm", "rv"]], opset=15)
    with pytest.raises(attn.AttnError, match="outputs of training mode only"):
        attn.import_onnx(path)
