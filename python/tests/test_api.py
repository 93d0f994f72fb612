"""The Python package beyond the golden cases: weights from dicts and
state_dicts, safetensors files, errors, threads."""

import os
import threading

import numpy as np
import pytest

import attn
from conftest import REPO

GRU = os.path.join(REPO, "models", "gru.attn")
GRU_WEIGHTS = os.path.join(REPO, "examples", "gru", "weights.safetensors")


def _gru_inputs(batch=2, steps=4):
    x = ((np.arange(batch * steps * 5) % 7 - 3) / 4).astype(np.float32).reshape(batch, steps, 5)
    return {"input": x, "h_0": np.zeros((4, batch, 7), np.float32)}


def _gru(weights=GRU_WEIGHTS, **kw):
    m = attn.Model(GRU, num_layers=2, bidirectional=True)
    m.bind(weights)
    return m.compile("forward", **kw)


def test_version():
    assert attn.version().startswith("attn " + attn.__version__ + " (LLVM 19.")


def test_safetensors_round_trip(tmp_path):
    tensors = {"f": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, -2], np.int64),
               "b": np.array([True, False]), "s": np.float32(2.5), "e": np.zeros((0, 4), np.float32)}
    path = tmp_path / "t.safetensors"
    attn.save_safetensors(path, tensors, metadata={"format": "pt"})
    back = attn.load_safetensors(path)
    assert list(back) == list(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == np.asarray(v).dtype and back[k].shape == np.shape(v)
        np.testing.assert_array_equal(back[k], v)


def test_safetensors_bare_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    attn.save_safetensors("w.safetensors", {"x": np.ones(3, np.float32)})
    assert attn.load_safetensors("w.safetensors")["x"].tolist() == [1, 1, 1]


def test_safetensors_refuses_bad_offsets(tmp_path):
    path = tmp_path / "bad.safetensors"
    attn.save_safetensors(path, {"x": np.ones(4, np.float32)})
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"[0,16]"):raw.index(b"[0,16]") + 6] = b"[0,12]"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="data_offsets"):
        attn.load_safetensors(path)


def test_weights_from_a_dict_equal_the_file():
    want = _gru()(**_gru_inputs())
    got = _gru(attn.load_safetensors(GRU_WEIGHTS))(**_gru_inputs())
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_outputs_in_entry_order_and_inputs_by_name():
    f = _gru()
    assert f.inputs == ["input", "h_0"] and f.outputs == ["output", "h_n"]
    out = f(h_0=_gru_inputs()["h_0"], input=_gru_inputs()["input"])
    assert list(out) == ["output", "h_n"]
    assert out["output"].shape == (2, 4, 14) and out["h_n"].shape == (4, 2, 7)


def test_non_contiguous_and_float64_inputs_are_accepted():
    ins = _gru_inputs()
    want = _gru()(**ins)
    x = np.asfortranarray(ins["input"].astype(np.float64))
    got = _gru()(input=x, h_0=ins["h_0"])
    np.testing.assert_allclose(got["h_n"], want["h_n"], rtol=1e-6, atol=1e-7)


def test_source_errors_are_located():
    with pytest.raises(attn.AttnError) as e:
        attn.Model(source="entry f(x: f32[B, 4]) -> y {\n  return tanh(x) @ x\n}", name="bad.attn")
    assert e.value.status == "input"
    assert "bad.attn:2:" in str(e.value) and "error:" in str(e.value)


def test_missing_file_and_unknown_entry():
    with pytest.raises(attn.AttnError) as e:
        attn.Model(os.path.join(REPO, "no_such_model.attn"))
    assert "no_such_model.attn" in str(e.value)
    m = attn.Model(GRU, num_layers=2, bidirectional=True).bind(GRU_WEIGHTS)
    with pytest.raises(attn.AttnError) as e:
        m.compile("backward")
    assert e.value.status == "usage" and "forward" in str(e.value)


def test_weight_errors_name_the_key():
    w = attn.load_safetensors(GRU_WEIGHTS)
    del w["bias_hh_l1_reverse"]
    m = attn.Model(GRU, num_layers=2, bidirectional=True)
    with pytest.raises(attn.AttnError) as e:
        m.bind(w)
        m.compile("forward")
    assert "bias_hh_l1_reverse" in str(e.value)


def test_run_errors():
    f = _gru()
    with pytest.raises(attn.AttnError, match="input 'h_0' of entry forward is missing"):
        f(input=_gru_inputs()["input"])
    with pytest.raises(attn.AttnError, match="no input named 'x'"):
        f(x=np.zeros(1, np.float32), **_gru_inputs())
    with pytest.raises(TypeError, match="complex"):
        f(input=np.zeros((2, 4, 5), np.complex64), h_0=_gru_inputs()["h_0"])


def test_threads_share_one_program():
    f = _gru(threads=1)
    inputs = [_gru_inputs(batch=b, steps=3 + b) for b in range(1, 5)]
    want = [f(**ins) for ins in inputs]
    errors = []

    def worker(k):
        try:
            for i in range(20):
                j = (k + i) % len(inputs)
                got = f(**inputs[j])
                np.testing.assert_array_equal(got["output"], want[j]["output"])
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_state_dict_from_pytorch():
    torch = pytest.importorskip("torch", reason="python3-torch is not installed: the state_dict path is not tested")
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 7, num_layers=2, bidirectional=True, batch_first=True)
    m = attn.Model(GRU, num_layers=2, bidirectional=True)
    m.bind(gru.state_dict())
    f = m.compile("forward")
    ins = _gru_inputs()
    got = f(**ins)
    with torch.no_grad():
        out, h_n = gru(torch.from_numpy(ins["input"]), torch.from_numpy(ins["h_0"]))
    np.testing.assert_allclose(got["output"], out.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["h_n"], h_n.numpy(), rtol=1e-5, atol=1e-6)


def test_weights_from_bytes_equal_the_file():
    want = _gru()(**_gru_inputs())
    with open(GRU_WEIGHTS, "rb") as f:
        image = f.read()
    got = _gru(image)(**_gru_inputs())
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(attn.AttnError, match="<memory>"):
        _gru(image[:7])


def test_dict_weights_are_bound_in_place():
    w = attn.load_safetensors(GRU_WEIGHTS)
    m = attn.Model(GRU, num_layers=2, bidirectional=True)
    m.bind(w)
    assert any(a is w["bias_ih_l0"] for a in m._bound)  # f32 and contiguous: no copy
    f = m.compile("forward")
    del m, w  # the program keeps the arrays alive
    assert f(**_gru_inputs())["h_n"].shape == (4, 2, 7)


def test_hyperparameters_and_declared_weights():
    m = attn.Model(GRU, input_size=5)
    h = m.hyperparameters
    assert h["input_size"] == 5 and h["hidden_size"] is None and h["num_layers"] == 1 and h["bidirectional"] is False
    w = m.weights
    assert list(w)[:2] == ["weight_ih_l0", "weight_hh_l0"]
    assert w["weight_ih_l0"].dtype == np.float32 and w["weight_ih_l0"].shape == ("hidden_size*3", 5)
    m.bind(attn.load_safetensors(os.path.join(REPO, "tests", "golden", "fixtures", "gru_l1", "weights.safetensors")))
    m.compile("forward")
    assert m.hyperparameters["hidden_size"] == 7
    assert m.weights["weight_ih_l0"].shape == (21, 5)


def test_input_and_output_specs():
    f = _gru()
    assert f.input_specs[0] == attn.TensorSpec("input", np.float32, ("B", "T", 5))
    assert f.input_specs[1] == attn.TensorSpec("h_0", np.float32, (4, "B", 7))
    assert [s.name for s in f.output_specs] == ["output", "h_n"]
    assert f.output_specs[0].shape == ("B", "T", 14)


def test_outputs_are_numpy_arrays_written_in_place():
    out = _gru()(**_gru_inputs())
    for a in out.values():
        assert a.flags.owndata and a.flags.writeable and a.flags.c_contiguous
    interp = _gru(backend="interp")(**_gru_inputs())
    for k in out:
        np.testing.assert_allclose(interp[k], out[k], rtol=1e-5, atol=1e-6)


def test_bf16_and_int8_weights_are_close():
    want = _gru()(**_gru_inputs())
    got = _gru(weights_dtype="bf16")(**_gru_inputs())
    for k in want:
        # bf16 weights and activations (8 significant bits) through 2 layers x 4 steps:
        # about 1e-3 here; f32 weights agree to 1e-7, so this also shows the option took effect
        err = np.max(np.abs(got[k] - want[k]))
        assert 1e-6 < err < 2e-2, (k, err)
    got = _gru(weights_dtype="int8")(**_gru_inputs())
    for k in want:
        # int8 weights per column and activations per row (the golden gru_l2_bidir
        # case of tests/precision/int8.txt measures 5e-3 against PyTorch)
        err = np.max(np.abs(got[k] - want[k]))
        assert 1e-6 < err < 2e-2, (k, err)
    with pytest.raises(ValueError, match="weights_dtype"):
        _gru(weights_dtype="f16")
