"""examples/gru_api.c in Python, on the installed package: same inputs, same
printed result.  gru_python.py MODELS_DIR WEIGHTS.safetensors"""
import os
import sys

import numpy as np

import attn

m = attn.Model(os.path.join(sys.argv[1], "gru.attn"), num_layers=2, bidirectional=True)
m.bind(sys.argv[2])
f = m.compile("forward")
x = ((np.arange(40) % 7 - 3) / 4).astype(np.float32).reshape(2, 4, 5)
h_n = f(input=x, h_0=np.zeros((4, 2, 7), np.float32))["h_n"]
print("h_n: [%d, %d, %d]" % h_n.shape)
print("  " + " ".join("%.5f" % v for v in h_n[0, 0]))
