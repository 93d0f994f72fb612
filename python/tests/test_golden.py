"""Every golden case (tests/golden/cases*.txt: PyTorch's outputs for the zoo
models) through the Python package, on the JIT and on the interpreter."""

import os

import numpy as np
import pytest

import attn
from conftest import REPO

FIXTURES = os.path.join(REPO, "tests", "golden", "fixtures")


def _cases():
    for manifest in ("cases.txt", "cases_zoo2.txt"):
        with open(os.path.join(REPO, "tests", "golden", manifest)) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    fields = line.split()
                    tol = float(fields[4]) if len(fields) > 4 else 1e-5
                    yield pytest.param(fields[0], fields[1], fields[2], fields[3], tol, id=fields[0])


def _hyper(sets):
    return {} if sets == "-" else dict(kv.split("=", 1) for kv in sets.split(","))


def _inputs(case):
    ins = attn.load_safetensors(os.path.join(FIXTURES, case, "inputs.safetensors"))
    # the fixtures store ids as i64/i32 and masks as bool, the rest as f32
    return {k: v.astype(np.int64) if v.dtype == np.int32 else v for k, v in ins.items()}


@pytest.mark.parametrize("backend", ["jit", "interp"])
@pytest.mark.parametrize("case,model,entry,sets,tol", list(_cases()))
def test_golden(case, model, entry, sets, tol, backend):
    m = attn.Model(os.path.join(REPO, model), **_hyper(sets))
    map_path = os.path.join(FIXTURES, case, "map.txt")  # the case's weight map, if any
    m.bind(os.path.join(FIXTURES, case, "weights.safetensors"),
           map_weights=map_path if os.path.exists(map_path) else None)
    f = m.compile(entry, backend=backend, threads=2)
    got = f.run(_inputs(case))
    want = attn.load_safetensors(os.path.join(FIXTURES, case, "expected.safetensors"))
    for name, w in want.items():
        assert name in got, f"no output named {name}"
        np.testing.assert_allclose(got[name], w, rtol=tol, atol=tol, err_msg=f"{case}: {name}")
