"""Models and compiled entry points: the C API of attn.h in Python terms."""

import ctypes
import os
from collections import namedtuple
from collections.abc import Mapping

import numpy as np

from . import _lib
from .safetensors import _as_numpy

__all__ = ["AttnError", "Model", "Program", "TensorSpec", "version"]

TensorSpec = namedtuple("TensorSpec", "name dtype shape")
TensorSpec.__doc__ = """An input, output or declared weight: its name (or key), numpy dtype and
shape, each dim an int or, where it is no number yet, its name or expression
("B", "2*T", "hidden_size*3")."""

_TO_ATTN = {np.dtype(np.float32): _lib.F32, np.dtype(np.int32): _lib.I32,
            np.dtype(np.int64): _lib.I64, np.dtype(np.bool_): _lib.BOOL}
_FROM_ATTN = {v: k for k, v in _TO_ATTN.items()}


class AttnError(Exception):
    """A failed call: .status is the attn_status name ("input", "usage", "nomem",
    "io", "internal"), str() the diagnostics ("m.attn:3:5: error: ...")."""

    _NAMES = {1: "input", 2: "usage", 3: "nomem", 4: "io", 5: "internal"}

    def __init__(self, status, message):
        self.status = self._NAMES.get(status, str(status))
        self.code = status
        super().__init__(message.rstrip("\n") or _lib.lib.attn_status_string(status).decode())


def version():
    """attn's version, the LLVM it uses and the host target."""
    return _lib.lib.attn_version().decode()


def _spec(info):
    dims = tuple(int(info.shape[d]) if info.shape[d] >= 0 else info.dims[d].decode() for d in range(info.rank))
    return TensorSpec(info.name.decode(), _FROM_ATTN[info.dtype], dims)


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Model:
    """A model source, loaded and checked.

        m = attn.Model("models/gru.attn", hidden_size=512)
        m.bind("gru.safetensors")          # or a dict of arrays, or a state_dict
        f = m.compile("forward", threads=2)
        outs = f(input=x, h_0=h)           # dict of numpy arrays

    Keyword arguments set hyperparameters (as `attnc --set`). `source` gives the
    model as text instead of a path (`name` is then used in messages).
    """

    def __init__(self, path=None, *, source=None, name="<source>", import_paths=(), **hyper):
        if (path is None) == (source is None):
            raise TypeError("attn.Model: give a path or source=..., not both")
        self._bound = []  # arrays and images whose memory the library reads
        self._m = _lib.lib.attn_model_new()
        if not self._m:
            raise MemoryError("attn_model_new")
        for d in import_paths:
            self._check(_lib.lib.attn_model_add_import_path(self._m, os.fsencode(d)))
        for k, v in hyper.items():
            self._check(_lib.lib.attn_model_set(self._m, k.encode(), _text(v).encode()))
        if source is not None:
            self._check(_lib.lib.attn_model_load_source(self._m, name.encode(), source.encode()))
        else:
            self._check(_lib.lib.attn_model_load(self._m, os.fsencode(path)))

    def _check(self, status):
        if status != 0:
            raise AttnError(status, _lib.lib.attn_model_errors(self._m).decode(errors="replace"))

    @property
    def entries(self):
        """Names of the model's entry points."""
        return [_lib.lib.attn_model_entry_name(self._m, i).decode() for i in range(_lib.lib.attn_model_entry_count(self._m))]

    @property
    def hyperparameters(self):
        """The hyperparameters by name: their values (int, float, bool, or the
        enum member's name), None where not set yet."""
        out = {}
        for i in range(_lib.lib.attn_model_hyper_count(self._m)):
            h = _lib.HyperInfo()
            self._check(_lib.lib.attn_model_hyper_info(self._m, i, ctypes.byref(h)))
            value = None
            if h.set:
                value = {_lib.HYPER_INT: lambda: int(h.int_value), _lib.HYPER_FLOAT: lambda: float(h.float_value),
                         _lib.HYPER_BOOL: lambda: bool(h.int_value),
                         _lib.HYPER_ENUM: lambda: h.value.decode()}[h.type]()
            out[h.name.decode()] = value
        return out

    @property
    def weights(self):
        """The weights the entry points declare, by full key: TensorSpecs
        (dtype, shape) of what bind() must provide (`attnc weights`)."""
        out = {}
        for i in range(_lib.lib.attn_model_weight_count(self._m)):
            info = _lib.TensorInfo()
            self._check(_lib.lib.attn_model_weight_info(self._m, i, ctypes.byref(info)))
            spec = _spec(info)
            out[spec.name] = spec
        return out

    def bind(self, weights):
        """Binds weights: a safetensors path, the bytes of a safetensors file
        (bound in place), or a mapping of names to numpy arrays or torch
        tensors (a PyTorch state_dict), bound tensor by tensor without a file:
        arrays already of the declared dtype and C-contiguous are not copied.
        The model and its programs keep what they were given alive."""
        if isinstance(weights, (str, os.PathLike)):
            self._check(_lib.lib.attn_model_bind_weights(self._m, os.fsencode(weights)))
            return self
        if isinstance(weights, (bytes, bytearray, memoryview)):
            image = np.frombuffer(weights, dtype=np.uint8)
            self._check(_lib.lib.attn_model_bind_weights_memory(self._m, image.ctypes.data, image.size))
            self._bound.append(image)
            return self
        if not isinstance(weights, Mapping):
            raise TypeError("Model.bind: weights are a safetensors path, its bytes, or a mapping of names to arrays")
        declared = self.weights
        for key, value in weights.items():
            a = _as_numpy(value)
            want = declared[key].dtype if key in declared else a.dtype
            if want not in _TO_ATTN:
                raise TypeError(f"weight '{key}': dtype {a.dtype} is not one of float32, int32, int64, bool")
            if a.dtype != want or not a.flags.c_contiguous:
                a = np.array(a, dtype=want, order="C")  # (ascontiguousarray would make a scalar 1-d)
            t = _lib.Tensor(name=str(key).encode(), dtype=_TO_ATTN[a.dtype], rank=a.ndim,
                            data=a.ctypes.data if a.size else None)
            for i, d in enumerate(a.shape):
                t.shape[i] = d
            self._check(_lib.lib.attn_model_bind_tensor(self._m, ctypes.byref(t)))
            self._bound.append(a)  # borrowed by the library: alive as long as the model and its programs
        return self

    def compile(self, entry="forward", *, threads=0, backend="jit", extra_outputs=(), no_fuse=False,
                weights_dtype="f32"):
        """Compiles one entry point into a Program (valid after the model is gone).
        weights_dtype: "f32", "bf16" or "int8", the storage of the matrix
        products' constant weights (docs/PRECISION.md)."""
        if backend not in _lib.BACKENDS:
            raise ValueError(f"backend must be one of {sorted(_lib.BACKENDS)}")
        if weights_dtype not in _lib.WEIGHTS_DTYPES:
            raise ValueError(f"weights_dtype must be one of {sorted(_lib.WEIGHTS_DTYPES)}")
        extras = [e.encode() for e in extra_outputs]
        arr = (ctypes.c_char_p * max(len(extras), 1))(*extras)
        opt = _lib.CompileOptions(backend=_lib.BACKENDS[backend], threads=int(threads),
                                  extra_outputs=arr if extras else None, nextra_outputs=len(extras),
                                  no_fuse=int(bool(no_fuse)), weights_dtype=_lib.WEIGHTS_DTYPES[weights_dtype])
        p = ctypes.c_void_p()
        self._check(_lib.lib.attn_model_compile(self._m, entry.encode(), ctypes.byref(opt), ctypes.byref(p)))
        return Program(p, entry, self._bound, backend)

    def close(self):
        if self._m:
            _lib.lib.attn_model_free(self._m)
            self._m = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Program:
    """One compiled entry point. Call it with the inputs by name; it returns a
    dict of numpy arrays in the entry's output order, which the JIT writes in
    place (no copy). Several Python threads may call one program at once (the
    GIL is released while it runs)."""

    def __init__(self, handle, entry, bound=(), backend="jit"):
        self._p = handle
        self._bound = bound  # weights the program reads in place
        self._in_place = backend == "jit"  # the interpreter knows its outputs' sizes only after the run
        self.entry = entry
        self.input_specs = [self._info(_lib.lib.attn_program_input_info, i)
                            for i in range(_lib.lib.attn_program_input_count(handle))]
        self.output_specs = [self._info(_lib.lib.attn_program_output_info, i)
                             for i in range(_lib.lib.attn_program_output_count(handle))]
        self.inputs = [s.name for s in self.input_specs]
        self.outputs = [s.name for s in self.output_specs]

    def _info(self, fn, i):
        info = _lib.TensorInfo()
        if fn(self._p, i, ctypes.byref(info)) != 0:
            raise AttnError(2, "cannot read the program's signature")
        return _spec(info)

    @staticmethod
    def _tensor(name, value):
        a = _as_numpy(value)
        if a.dtype == np.float64 or a.dtype == np.float16:
            a = a.astype(np.float32)
        if a.dtype not in _TO_ATTN:
            raise TypeError(f"input '{name}': dtype {a.dtype} is not one of float32, int32, int64, bool")
        if a.ndim > _lib.MAX_RANK:
            raise ValueError(f"input '{name}': rank {a.ndim} is above {_lib.MAX_RANK}")
        a = np.asarray(a, order="C")  # no copy when already contiguous (rank 0 stays rank 0)
        t = _lib.Tensor(name=name.encode(), dtype=_TO_ATTN[a.dtype], rank=a.ndim,
                        data=a.ctypes.data if a.size else None)
        for i, d in enumerate(a.shape):
            t.shape[i] = d
        return t, a

    def __call__(self, **inputs):
        return self.run(inputs)

    @staticmethod
    def _raise(status, err):
        message = ctypes.string_at(err.value).decode(errors="replace") if err.value else ""
        _lib.lib.attn_string_free(err)
        raise AttnError(status, message)

    def run(self, inputs):
        if not self._p:
            raise ValueError("the program was freed")
        pairs = [self._tensor(k, v) for k, v in inputs.items()]
        arr = (_lib.Tensor * max(len(pairs), 1))(*[t for t, _ in pairs])
        keep = [a for _, a in pairs]  # the arrays stay alive during the call
        if not self._in_place:
            return self._run_copying(arr, len(pairs), keep)
        n = len(self.outputs)
        outs = (_lib.Tensor * max(n, 1))()
        err = ctypes.c_void_p()
        status = _lib.lib.attn_program_output_shapes(self._p, arr, len(pairs), outs, n, ctypes.byref(err))
        if status != 0:
            self._raise(status, err)
        result = {}
        for i in range(n):
            t = outs[i]
            a = np.empty(tuple(t.shape[d] for d in range(t.rank)), dtype=_FROM_ATTN[t.dtype])
            t.data = a.ctypes.data if a.size else None
            result[t.name.decode()] = a
        status = _lib.lib.attn_program_run_into(self._p, arr, len(pairs), outs, n, ctypes.byref(err))
        del keep
        if status != 0:
            self._raise(status, err)
        return result

    def _run_copying(self, arr, n, keep):
        out = ctypes.POINTER(_lib.Tensor)()
        nout = ctypes.c_int()
        err = ctypes.c_void_p()
        status = _lib.lib.attn_program_run(self._p, arr, n, ctypes.byref(out), ctypes.byref(nout), ctypes.byref(err))
        del keep
        if status != 0:
            self._raise(status, err)
        try:
            result = {}
            for i in range(nout.value):
                t = out[i]
                shape = tuple(t.shape[d] for d in range(t.rank))
                dtype = _FROM_ATTN[t.dtype]
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                if count == 0 or not t.data:
                    a = np.zeros(shape, dtype=dtype)
                else:
                    buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(t.data)
                    a = np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
                result[t.name.decode()] = a
            return result
        finally:
            _lib.lib.attn_tensors_free(out, nout)

    def close(self):
        if self._p:
            _lib.lib.attn_program_free(self._p)
            self._p = None

    def __del__(self):
        self.close()
