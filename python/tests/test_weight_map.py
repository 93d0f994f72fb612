"""Weight maps through the Python package: HAN's weights under other names
(keys under `model.`, layers called W_w, W_s, fc) bound through a map file,
through rules given as a list, and as a renamed dict; errors name the rule."""

import os

import numpy as np
import pytest

import attn
from conftest import REPO

HAN = os.path.join(REPO, "models", "han.attn")
CASE = os.path.join(REPO, "tests", "golden", "fixtures", "han_mapped")
RULES = ["^model\\.=", "W_w.=word_proj.", "W_s.=sent_proj.", "fc.=classifier."]


def _check_as_pytorch(m):
    got = m.compile("forward", threads=1).run(attn.load_safetensors(os.path.join(CASE, "inputs.safetensors")))
    for name, want in attn.load_safetensors(os.path.join(CASE, "expected.safetensors")).items():
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_map_file():
    m = attn.Model(HAN)
    m.bind(os.path.join(CASE, "weights.safetensors"), map_weights=os.path.join(CASE, "map.txt"))
    _check_as_pytorch(m)


def test_rules_as_a_list_with_a_dict():
    weights = attn.load_safetensors(os.path.join(CASE, "weights.safetensors"))
    assert "model.W_w.weight" in weights
    m = attn.Model(HAN)
    m.map_weights(rules=RULES).bind(weights)
    _check_as_pytorch(m)


def test_without_the_map_the_keys_are_unexpected():
    m = attn.Model(HAN)
    with pytest.raises(attn.AttnError, match="unexpected weight 'model.u_w'"):
        m.bind(os.path.join(CASE, "weights.safetensors"))


def test_errors_name_the_rule():
    m = attn.Model(HAN)
    with pytest.raises(attn.AttnError) as e:
        m.bind(os.path.join(CASE, "weights.safetensors"), map_weights=["^model\\.=", "W_w.=word_prj."] + RULES[2:])
    assert "unexpected weight 'word_prj.weight' (from 'model.W_w.weight' by rules <rules>:1 and <rules>:2)" in str(e.value)
    m = attn.Model(HAN)
    with pytest.raises(attn.AttnError, match="<rules>:2:1: error: bad regular expression"):
        m.map_weights(rules="# a comment\n^model(=\n")
    with pytest.raises(TypeError):
        attn.Model(HAN).map_weights()
