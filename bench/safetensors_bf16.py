"""Writes a copy of a safetensors file with its F32 tensors rounded to BF16
(nearest even), the other tensors as they are: the kind of file models are
published in, for measuring what a model keeps of BF16 weights
(docs/BENCHMARKS.md, "Resident weight memory").

    /usr/bin/python3 bench/safetensors_bf16.py IN.safetensors OUT.safetensors
"""
import json
import struct
import sys

import numpy as np


def to_bf16(data):
    bits = np.frombuffer(data, dtype="<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # nearest even; no NaN in weights
    return rounded.astype("<u2").tobytes()


def main(src, dst):
    with open(src, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out_header, chunks, offset = {}, [], 0
    for key, entry in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                             key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = entry["data_offsets"]
        data = body[begin:end]
        dtype = entry["dtype"]
        if dtype == "F32":
            data, dtype = to_bf16(data), "BF16"
        out_header[key] = {"dtype": dtype, "shape": entry["shape"], "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
