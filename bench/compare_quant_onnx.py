"""ONNX Runtime's int8 side of bench/compare: rewrites an fp32 ONNX export
into ONNX Runtime's dynamically quantized int8 operators, the way its own
quantization tool does with per-channel weights, with python3-onnx only.

    /usr/bin/python3 bench/compare_quant_onnx.py IN.onnx OUT.onnx

- MatMul whose right operand is a constant 2-D weight, and Gemm with a
  constant B (alpha = beta = 1; transB handled; C folded in as the bias):
  com.microsoft::DynamicQuantizeMatMul with int8 weights and one fp32 scale
  per output column (per-channel symmetric: scale = max|w| / 127, round to
  nearest even, zero points 0). ONNX Runtime quantizes the activations per
  tensor at run time to uint8 and runs its int8 GEMM.
- LSTM with constant W and R: com.microsoft::DynamicQuantizeLSTM, W and R
  transposed to [directions, inputs, 4*hidden] int8 with a scale per
  direction and gate column.
- GRU stays fp32: ONNX Runtime has no int8 GRU operator.

Prints what it rewrote, e.g. "quantized 6 MatMul, 0 Gemm, 0 LSTM".
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

MS = "com.microsoft"


def per_column(w):
    """int8 values and fp32 scales of w (..., K, N), one scale per column (last axis)."""
    amax = np.abs(w).max(axis=-2, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, np.squeeze(scale, axis=-2)


class Rewriter:
    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.count = {"MatMul": 0, "Gemm": 0, "LSTM": 0}

    def const(self, name):
        t = self.inits.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    def add(self, name, array):
        t = numpy_helper.from_array(array, name)
        self.graph.initializer.append(t)
        self.inits[name] = t
        return name

    def matmul(self, node, w, bias=None):
        q, scale = per_column(w.astype(np.float32))
        base = node.output[0]
        inputs = [node.input[0], self.add(base + "_wq", q), self.add(base + "_wscale", scale),
                  self.add(base + "_wzp", np.zeros(scale.shape, np.int8))]
        if bias is not None:
            inputs.append(self.add(base + "_bias", bias.astype(np.float32)))
        return helper.make_node("DynamicQuantizeMatMul", inputs, list(node.output), name=node.name + "_int8",
                                domain=MS)

    def gemm(self, node):
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        w = self.const(node.input[1])
        if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            return None
        if a.get("transB", 0):
            w = w.T
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if len(node.input) > 2 and node.input[2] and (bias is None or bias.ndim != 1):
            return None
        return self.matmul(node, w, bias)

    def lstm(self, node):
        w, r = self.const(node.input[1]), self.const(node.input[2])
        if w is None or r is None:
            return None
        wq, ws = per_column(np.ascontiguousarray(w.transpose(0, 2, 1)))
        rq, rs = per_column(np.ascontiguousarray(r.transpose(0, 2, 1)))
        base = node.output[0] or node.name
        opt = list(node.input[3:8]) + [""] * (5 - len(node.input[3:8]))  # B, sequence_lens, initial_h, initial_c, P
        inputs = [node.input[0], self.add(base + "_wq", wq), self.add(base + "_rq", rq)] + opt + [
            self.add(base + "_wscale", ws), self.add(base + "_wzp", np.zeros(ws.shape, np.int8)),
            self.add(base + "_rscale", rs), self.add(base + "_rzp", np.zeros(rs.shape, np.int8))]
        return helper.make_node("DynamicQuantizeLSTM", inputs, list(node.output), name=node.name + "_int8",
                                domain=MS, **{x.name: helper.get_attribute_value(x) for x in node.attribute})

    def run(self):
        nodes = []
        for node in self.graph.node:
            new = None
            if node.op_type == "MatMul":
                w = self.const(node.input[1])
                new = self.matmul(node, w) if w is not None and w.ndim == 2 else None
            elif node.op_type == "Gemm":
                new = self.gemm(node)
            elif node.op_type == "LSTM":
                new = self.lstm(node)
            if new is not None:
                self.count[node.op_type] += 1
            nodes.append(new if new is not None else node)
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        # weights no node reads any more (the fp32 originals)
        used = {i for n in self.graph.node for i in n.input}
        keep = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)
        if not any(o.domain == MS for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid(MS, 1))
        return self.count


def quantize(src, dst):
    model = onnx.load(src)
    count = Rewriter(model).run()
    onnx.save(model, dst)
    return count


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare_quant_onnx.py IN.onnx OUT.onnx")
    c = quantize(sys.argv[1], sys.argv[2])
    print("quantized %d MatMul, %d Gemm, %d LSTM" % (c["MatMul"], c["Gemm"], c["LSTM"]))


if __name__ == "__main__":
    main()
