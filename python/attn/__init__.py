"""attn: a compiler and JIT runtime for attention models, from Python.

    import attn
    m = attn.Model("models/gru.attn", num_layers=2)
    m.bind(torch_module.state_dict())      # or "weights.safetensors"
    f = m.compile("forward", threads=2)
    outs = f(input=x, h_0=h)               # numpy arrays in, dict of numpy arrays out

The package is a thin layer over the shared library libattn (ctypes): set
ATTN_LIBRARY to its path when it is not found by itself.
"""

from .model import AttnError, Model, Program, TensorSpec, version
from .onnx import OnnxImport, import_onnx, onnx_ops
from .safetensors import load_safetensors, save_safetensors

__all__ = ["AttnError", "Model", "Program", "TensorSpec", "version", "load_safetensors", "save_safetensors",
           "OnnxImport", "import_onnx", "onnx_ops"]
__version__ = "0.5.0"
