"""Writes the files of one bench/compare row into a directory: the module's
weights, the inputs (as PyTorch / ONNX Runtime take them and as the attn entry
takes them), PyTorch's outputs, the ONNX export and the ONNX Runtime side's
spec (ort.json). Returns the export's error message, or "" when it worked.
"""
import json
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen import write_safetensors  # noqa: E402
import compare_rows  # noqa: E402


def _export(module, args, path, inputs, outputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(args), path, opset_version=14, input_names=inputs, output_names=outputs,
                          do_constant_folding=True)


def prepare(row, index, d):
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(1000 + index)
    module = row.build().float().eval()
    inputs = row.inputs()
    with torch.inference_mode():
        outputs = module(*[t for _, t in inputs])
    if not isinstance(outputs, tuple) or len(outputs) != len(row.outputs):
        raise TypeError("%s: the module must return a tuple of %d outputs" % (row.name, len(row.outputs)))
    write_safetensors(os.path.join(d, "weights.safetensors"), list(module.state_dict().items()))
    write_safetensors(os.path.join(d, "inputs.safetensors"), inputs)
    by_name = dict(inputs)
    attn_inputs = [(a, by_name[r]) for a, r in row.attn_inputs.items()] if row.attn_inputs else inputs
    write_safetensors(os.path.join(d, "attn_inputs.safetensors"), attn_inputs)
    write_safetensors(os.path.join(d, "expected.safetensors"), list(zip(row.outputs, outputs)))

    spec = {"inputs": os.path.join(d, "inputs.safetensors"), "expected": os.path.join(d, "expected.safetensors"),
            "outputs": row.outputs}
    names = [n for n, _ in inputs]
    try:
        if isinstance(module, compare_rows.Seq2Seq):
            spec.update(kind="greedy", encoder=os.path.join(d, "encoder.onnx"), step=os.path.join(d, "step.onnx"),
                        steps=compare_rows.S2S_STEPS, bos=module.bos)
            src, src_mask = by_name["src"], by_name["src_mask"]
            with torch.no_grad():
                memory, state = module.encode(src)
            _export(compare_rows.Encode(module), [src], spec["encoder"], ["src"], ["memory", "state"])
            prev = torch.full((src.shape[0],), module.bos, dtype=torch.int64)
            _export(compare_rows.DecodeStep(module), [prev, state, memory, src_mask], spec["step"],
                    ["prev_token", "state", "memory", "src_mask"], ["logits", "new_state", "attention"])
        else:
            spec.update(kind="plain", onnx=os.path.join(d, "model.onnx"))
            _export(module, [t for _, t in inputs], spec["onnx"], names, row.outputs)
        error = ""
    except Exception as e:  # the row still runs on the other sides
        error = "ONNX export failed: %s" % str(e).strip().splitlines()[0]
    with open(os.path.join(d, "ort.json"), "w") as f:
        json.dump(spec, f)
    return error
