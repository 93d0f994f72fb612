"""ONNX import (docs/ONNX.md): an .onnx file as .attn source and weights."""

import ctypes
import os
from dataclasses import dataclass, field

import numpy as np

from . import _lib
from .model import AttnError, Model

_NP = {_lib.F32: np.float32, _lib.I32: np.int32, _lib.I64: np.int64, _lib.BOOL: np.bool_}
_TO_ATTN = {np.dtype(np.float32): _lib.F32, np.dtype(np.int32): _lib.I32, np.dtype(np.int64): _lib.I64,
            np.dtype(np.bool_): _lib.BOOL}


@dataclass
class OnnxImport:
    """What attn.import_onnx gives: the .attn source, the weights by key
    (numpy arrays), and the ONNX names of the entry's inputs and outputs in
    order."""
    source: str
    weights: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def model(self, name="imported.attn"):
        """The source loaded as an attn.Model with the weights bound."""
        m = Model(source=self.source, name=name)
        if self.weights:
            m.bind(self.weights)
        return m


def onnx_ops():
    """The ONNX ops the importer handles."""
    return _lib.lib.attn_onnx_ops().decode().split()


def import_onnx(path, known=None):
    """Imports the .onnx file at `path`. `known` maps graph input names to
    arrays whose values the model may need when it is imported (a Reshape's
    shape given as an input); an input used only so is left out of the entry."""
    known = dict(known or {})
    keep = []
    ts = (_lib.Tensor * max(len(known), 1))()
    for i, (name, value) in enumerate(known.items()):
        a = np.asarray(value, order="C")  # (ascontiguousarray would make a scalar 1-d)
        if a.dtype not in _TO_ATTN:
            raise TypeError(f"import_onnx: value for '{name}' has dtype {a.dtype}")
        keep.append(a)
        ts[i].name = name.encode()
        ts[i].dtype = _TO_ATTN[a.dtype]
        ts[i].rank = a.ndim
        for k, d in enumerate(a.shape):
            ts[i].shape[k] = d
        ts[i].data = a.ctypes.data if a.size else None
    out = ctypes.POINTER(_lib.OnnxImport)()
    err = ctypes.c_void_p()
    status = _lib.lib.attn_import_onnx(os.fsencode(path), ts, len(known), ctypes.byref(out), ctypes.byref(err))
    if status != 0:
        msg = ctypes.cast(err, ctypes.c_char_p).value.decode(errors="replace") if err.value else "out of memory"
        _lib.lib.attn_string_free(err)
        raise AttnError(status, msg)
    try:
        r = out.contents
        weights = {}
        for i in range(r.nweights):
            t = r.weights[i]
            shape = tuple(t.shape[k] for k in range(t.rank))
            n = int(np.prod(shape, dtype=np.int64))
            dt = np.dtype(_NP[t.dtype])
            buf = (ctypes.c_char * (n * dt.itemsize)).from_address(t.data) if n else b""
            weights[t.name.decode()] = np.frombuffer(bytes(buf), dtype=dt).reshape(shape).copy()
        return OnnxImport(source=r.source.decode(), weights=weights,
                          inputs=[r.input_names[i].decode() for i in range(r.ninputs)],
                          outputs=[r.output_names[i].decode() for i in range(r.noutputs)])
    finally:
        _lib.lib.attn_onnx_import_free(out)
