"""Finding and declaring the shared library libattn (ctypes)."""

import ctypes
import ctypes.util
import os

MAX_RANK = 8
F32, I32, I64, BOOL = 0, 1, 2, 3
BACKENDS = {"jit": 0, "interp": 1}
WEIGHTS_DTYPES = {"f32": 0, "bf16": 1, "int8": 2}  # attn_weights_dtype


class Tensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * MAX_RANK), ("data", ctypes.c_void_p)]


class CompileOptions(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("threads", ctypes.c_int),
                ("mcpu", ctypes.c_char_p), ("mattr", ctypes.c_char_p),
                ("emit_llvm", ctypes.c_char_p), ("emit_asm", ctypes.c_char_p),
                ("extra_outputs", ctypes.POINTER(ctypes.c_char_p)), ("nextra_outputs", ctypes.c_int),
                ("no_fuse", ctypes.c_int), ("profile", ctypes.c_int), ("pool", ctypes.c_void_p),
                ("weights_dtype", ctypes.c_int)]


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * MAX_RANK), ("dims", ctypes.c_char_p * MAX_RANK),
                ("type_text", ctypes.c_char_p)]


class HyperInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("set", ctypes.c_bool),
                ("from_weights", ctypes.c_bool), ("int_value", ctypes.c_int64), ("float_value", ctypes.c_double),
                ("value", ctypes.c_char_p)]


HYPER_INT, HYPER_FLOAT, HYPER_BOOL, HYPER_ENUM = 0, 1, 2, 3


def _candidates():
    """Where libattn may be, most specific first: $ATTN_LIBRARY, next to this
    package or in the library directory cmake --install put it beside, the
    build tree this package sits in (python/ beside build/), then the system's
    library path."""
    env = os.environ.get("ATTN_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libattn.so")
    # installed by cmake --install: PREFIX/LIBDIR/python3/dist-packages/attn
    yield os.path.join(here, "..", "..", "..", "libattn.so")
    root = os.path.dirname(os.path.dirname(here))
    for build in ("build", "build-release"):
        yield os.path.join(root, build, "libattn.so")
    found = ctypes.util.find_library("attn")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("attn: cannot find the shared library libattn.so; set ATTN_LIBRARY to its path "
                      "(tried: " + ", ".join(tried) + ")")


_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_SIGS = {
    "attn_version": (_S, []),
    "attn_status_string": (_S, [_I]),
    "attn_model_new": (_P, []),
    "attn_model_free": (None, [_P]),
    "attn_model_add_import_path": (_I, [_P, _S]),
    "attn_model_set": (_I, [_P, _S, _S]),
    "attn_model_load": (_I, [_P, _S]),
    "attn_model_load_source": (_I, [_P, _S, _S]),
    "attn_model_bind_weights": (_I, [_P, _S]),
    "attn_model_errors": (_S, [_P]),
    "attn_model_entry_count": (_I, [_P]),
    "attn_model_entry_name": (_S, [_P, _I]),
    "attn_model_compile": (_I, [_P, _S, ctypes.POINTER(CompileOptions), ctypes.POINTER(_P)]),
    "attn_program_input_count": (_I, [_P]),
    "attn_program_output_count": (_I, [_P]),
    "attn_program_input_name": (_S, [_P, _I]),
    "attn_program_output_name": (_S, [_P, _I]),
    "attn_program_run": (_I, [_P, ctypes.POINTER(Tensor), _I, ctypes.POINTER(ctypes.POINTER(Tensor)),
                              ctypes.POINTER(_I), ctypes.POINTER(ctypes.c_void_p)]),
    "attn_program_run_into": (_I, [_P, ctypes.POINTER(Tensor), _I, ctypes.POINTER(Tensor), _I,
                                   ctypes.POINTER(ctypes.c_void_p)]),
    "attn_program_output_shapes": (_I, [_P, ctypes.POINTER(Tensor), _I, ctypes.POINTER(Tensor), _I,
                                        ctypes.POINTER(ctypes.c_void_p)]),
    "attn_program_input_info": (_I, [_P, _I, ctypes.POINTER(TensorInfo)]),
    "attn_program_output_info": (_I, [_P, _I, ctypes.POINTER(TensorInfo)]),
    "attn_model_bind_weights_memory": (_I, [_P, ctypes.c_void_p, ctypes.c_size_t]),
    "attn_model_bind_tensor": (_I, [_P, ctypes.POINTER(Tensor)]),
    "attn_model_hyper_count": (_I, [_P]),
    "attn_model_hyper_info": (_I, [_P, _I, ctypes.POINTER(HyperInfo)]),
    "attn_model_weight_count": (_I, [_P]),
    "attn_model_weight_info": (_I, [_P, _I, ctypes.POINTER(TensorInfo)]),
    "attn_program_free": (None, [_P]),
    "attn_tensors_free": (None, [ctypes.POINTER(Tensor), _I]),
    "attn_string_free": (None, [ctypes.c_void_p]),
}


def __getattr__(name):
    """`lib`, the loaded and declared library, on first use: the package's
    safetensors functions work without it (PEP 562)."""
    if name != "lib":
        raise AttributeError(name)
    loaded = _load()
    for fn, (res, args) in _SIGS.items():
        f = getattr(loaded, fn)
        f.restype = res
        f.argtypes = args
    globals()["lib"] = loaded
    return loaded
