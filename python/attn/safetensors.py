"""Reading and writing safetensors files with numpy alone.

The format (8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the data) is small enough that a
dependency is not worth it; Debian has no safetensors package. Files written
here load in PyTorch's and Hugging Face's readers, and theirs load here.
"""

import json
import struct

import numpy as np

__all__ = ["save_safetensors", "load_safetensors"]

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
    "BOOL": np.bool_,
}
_NAMES = {np.dtype(v).str: k for k, v in _DTYPES.items()}
# the reference implementation refuses larger headers
_MAX_HEADER = 100 * 1000 * 1000


def _as_numpy(value):
    """A numpy array of value: numpy arrays as they are, torch tensors through
    their .numpy() (detached, on the CPU; bf16 widened to f32, which numpy
    lacks), anything else through np.asarray."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor, without importing torch
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    return np.asarray(value)


def save_safetensors(path, tensors, metadata=None):
    """Writes tensors (a mapping of names to numpy arrays or torch tensors) to
    path, in the mapping's order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, value in tensors.items():
        a = np.asarray(_as_numpy(value), order="C")  # (ascontiguousarray would make a scalar 1-d)
        key = a.dtype.newbyteorder("<").str if a.dtype.byteorder == ">" else a.dtype.str
        if key not in _NAMES:
            raise TypeError(f"tensor '{name}': dtype {a.dtype} cannot be stored in safetensors")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        data = a.tobytes()
        header[str(name)] = {"dtype": _NAMES[key], "shape": list(a.shape),
                             "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data aligned to 8 bytes, as other writers do
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_safetensors(path):
    """The tensors of a safetensors file, as a dict of numpy arrays (copies:
    the file is not kept open). Raises ValueError for a malformed file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} does not fit the file")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ValueError(f"{path}: header is not JSON: {e}") from None
    data = memoryview(raw)[8 + n:]
    out, ranges = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {info.get('dtype')}")
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(data) or end - begin != count * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: tensor '{name}' has data_offsets that do not match its shape")
        a = np.frombuffer(data[begin:end], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
        if dtype is np.bool_ and a.size and a.view(np.uint8).max() > 1:
            raise ValueError(f"{path}: tensor '{name}' has BOOL bytes other than 0 and 1")
        out[name] = a.astype(a.dtype.newbyteorder("="))  # a copy in native order
        ranges.append((begin, end))
    end = 0
    for begin, stop in sorted(ranges):
        if begin != end:
            raise ValueError(f"{path}: the tensors' data_offsets leave a gap or overlap at byte {begin}")
        end = stop
    if end != len(data):
        raise ValueError(f"{path}: {len(data) - end} bytes after the last tensor")
    return out
