"""SmolLM2 and MiniLM load offline, decode sensibly, and expose exact activation sites."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.models import forward_to, load_minilm, load_smollm2, read_site, replace_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    return load_smollm2()


@pytest.fixture(scope="module")
def batch(lm):
    return lm.tokenize(["The quick brown fox jumps over the lazy dog.", "Short text"])


def test_greedy_decoding_names_paris(lm):
    enc = lm.tokenize(["The capital of France is"])
    out = lm.model.generate(**enc, max_new_tokens=3, do_sample=False)
    assert lm.tokenizer.decode(out[0, enc["input_ids"].shape[1]:]).startswith(" Paris")


@pytest.mark.parametrize("block", [0, 1, 15, 29])
def test_early_stopped_forward_equals_hidden_states(lm, batch, block):
    with torch.no_grad():
        hs = lm.model(**batch, output_hidden_states=True).hidden_states
    h = forward_to(lm, batch["input_ids"], batch["attention_mask"], block=block)
    torch.testing.assert_close(h, hs[block], atol=1e-5, rtol=0)


def test_forward_to_stops_early(lm, batch):
    ran = []
    handle = lm.model.model.layers[20].register_forward_hook(lambda *a: ran.append(1))
    try:
        forward_to(lm, batch["input_ids"], batch["attention_mask"], block=15)
    finally:
        handle.remove()
    assert not ran


def test_replace_site(lm, batch):
    with torch.no_grad():
        base = lm.model(**batch).logits
        with replace_site(lm, "resid.15", lambda t: t):
            same = lm.model(**batch).logits
        with replace_site(lm, "mlp.10", torch.zeros_like):
            changed = lm.model(**batch).logits
        with read_site(lm, "attn.3") as seen:
            lm.model(**batch)
    torch.testing.assert_close(same, base, atol=0, rtol=0)
    assert (changed - base).abs().max() > 1e-2
    assert len(seen) == 1 and seen[0].shape == (2, batch["input_ids"].shape[1], lm.d_model)


@pytest.mark.parametrize("site", ["resid.31", "mlp.0", "block.3", "resid"])
def test_bad_site(lm, batch, site):
    with pytest.raises(ValueError, match="site"):
        forward_to(lm, batch["input_ids"], site=site, block=0)


def test_minilm_sanity_cosines():
    v = load_minilm().embed(["A man is eating food.", "A man eats a meal.",
                             "The stock market crashed."])
    assert abs(float(v[0] @ v[1]) - 0.91) < 0.02
    assert abs(float(v[0] @ v[2])) < 0.02
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
