"""Vocabulary normaliser: the acceptance cases of the transplant (keys, rules, specials, junk)."""

from __future__ import annotations

import pytest

from mplib.transplant import BYTES, SPECIAL, WORD_START, normalize_vocabulary
from mplib.transplant.vocab import MERGEKIT_WARNING, token_key
from tests.transplant._tiny import (
    byte_level_tokenizer,
    sentencepiece_tokenizer,
    wordpiece_tokenizer,
)


@pytest.fixture(scope="module")
def toks():
    return {"byte_level": byte_level_tokenizer(), "wordpiece": wordpiece_tokenizer(),
            "sentencepiece": sentencepiece_tokenizer()}


def test_byte_level_meets_sentencepiece():
    """SmolLM2 ``Ġhello`` ↔ Gemma ``▁hello``; ``Ċ`` ↔ newline; ``Ã©`` ↔ ``é``."""
    assert token_key("Ġhello", "byte_level") == token_key("▁hello", "sentencepiece") \
        == (WORD_START, "hello")
    assert token_key("Ċ", "byte_level") == "\n" == token_key("\n", "sentencepiece")
    assert token_key("Ã©", "byte_level") == "é" == token_key("é", "sentencepiece")
    assert token_key("ĠÃ©t", "byte_level") == (WORD_START, "ét")
    assert token_key("▁new▁york", "sentencepiece") == (WORD_START, "new york")


def test_partial_utf8_is_bytes_and_matches_a_fallback_piece():
    partial = token_key("Ã", "byte_level")  # the first byte of a two-byte character
    assert partial == (BYTES, b"\xc3") == token_key("<0xC3>", "sentencepiece")


def test_wordpiece_rule():
    assert token_key("hello", "wordpiece") == (WORD_START, "hello")
    assert token_key("##ing", "wordpiece") == "ing"
    assert token_key("[unused0]", "wordpiece") is None
    assert token_key("[CLS]", "wordpiece", roles={"[CLS]": "cls_token"}) == (SPECIAL, "cls_token")


def test_auto_rule_from_the_tokenizer_model(toks):
    for rule, tok in toks.items():
        assert normalize_vocabulary(tok).rule == rule


def test_wordpiece_tokenizer_specials_and_junk(toks):
    tok = toks["wordpiece"]
    nv = normalize_vocabulary(tok)
    vocab = tok.get_vocab()
    assert nv.key_to_id[(SPECIAL, "cls_token")] == vocab["[CLS]"]
    assert nv.key_to_id[(WORD_START, "hello")] == vocab["hello"]
    assert nv.key_to_id["ing"] == vocab["##ing"]
    assert nv.junk_ids == sorted(vocab[f"[unused{i}]"] for i in range(3))
    assert nv.n_ids == max(vocab.values()) + 1
    mapped = normalize_vocabulary(tok, role_map={"cls_token": "bos_token"})
    assert mapped.key_to_id[(SPECIAL, "bos_token")] == vocab["[CLS]"]


def test_single_roles_match_across_tokenizers(toks):
    a = normalize_vocabulary(toks["byte_level"])
    b = normalize_vocabulary(toks["sentencepiece"])
    assert (SPECIAL, "bos_token") in a.key_to_id and (SPECIAL, "bos_token") in b.key_to_id


def test_collisions_reported_lowest_id_keeps_the_key():
    nv = normalize_vocabulary({"Ġab": 5, "ab": 1, "ĠĠ": 2}, rule="byte_level")
    assert nv.key_to_id[(WORD_START, "ab")] == 5
    assert nv.collisions == {}
    nv = normalize_vocabulary({"a▁": 1, "a ": 4}, rule="sentencepiece")
    assert nv.key_to_id["a "] == 1 and nv.collisions == {"a ": [4]}


class _Tok:
    """A tokenizer-like object of a class mergekit does not know."""

    def __init__(self, vocab, smap):
        self._vocab, self.special_tokens_map = vocab, smap

    def get_vocab(self):
        return dict(self._vocab)


def test_mergekit_rule_unknown_class_collapse_and_last_id_wins():
    vocab = {"Ġhello": 0, "hello": 1, "<s>": 2, "<extra_0>": 3, "<extra_1>": 4, "##ing": 5}
    smap = {"bos_token": "<s>", "additional_special_tokens": ["<extra_0>", "<extra_1>"]}
    with pytest.warns(UserWarning, match="assuming the word-start marker") as rec:
        nv = normalize_vocabulary(_Tok(vocab, smap), rule="mergekit")
    assert str(rec[0].message) == MERGEKIT_WARNING
    assert nv.key_to_id[(WORD_START, "hello")] == 0 and nv.key_to_id["hello"] == 1
    assert nv.key_to_id[(SPECIAL, "bos_token")] == 2
    assert nv.key_to_id[(SPECIAL, "additional_special_tokens")] == 4  # collapsed: last id wins
    assert nv.collisions == {(SPECIAL, "additional_special_tokens"): [3]}
    assert nv.key_to_id["##ing"] == 5  # WordPiece's ## is not understood


def test_our_rule_keeps_additional_specials_literal():
    vocab = {"<extra_0>": 3, "<extra_1>": 4, "Ġa": 0}
    smap = {"additional_special_tokens": ["<extra_0>", "<extra_1>"]}
    nv = normalize_vocabulary(_Tok(vocab, smap), rule="byte_level")
    assert nv.key_to_id["<extra_0>"] == 3 and nv.key_to_id["<extra_1>"] == 4


@pytest.mark.parametrize("name", ["byte_level", "wordpiece", "sentencepiece"])
def test_mergekit_rule_reproduces_mergekit(toks, name):
    """Same keys as mergekit's own ``normalized_vocabulary`` on the fixture tokenizers."""
    norm = pytest.importorskip("mergekit.tokenizer.normalization")
    tok = toks[name]
    with pytest.warns(UserWarning, match="assuming"):  # none of them is a class mergekit knows
        ours = normalize_vocabulary(tok, rule="mergekit")
    theirs = norm.normalized_vocabulary(tok)

    def plain(key):
        return (key[0].value, key[1]) if isinstance(key, tuple) else key

    assert ours.key_to_id == {plain(k): v for k, v in theirs.items()}


def test_bad_input():
    with pytest.raises(ValueError, match="tokenizer"):
        normalize_vocabulary(object())
    with pytest.raises(ValueError, match="tokenizer"):
        normalize_vocabulary({})
    with pytest.raises(ValueError, match="rule"):
        normalize_vocabulary({"a": 0}, rule="bpe")
    with pytest.raises(ValueError, match="rule"):
        token_key("a", "mergekit")
