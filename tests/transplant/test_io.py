"""Folder to folder: ``python -m mplib transplant`` writes a model that reloads and generates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mplib.cli import COMMANDS
from mplib.cli import main as cli_main
from mplib.transplant import TransplantConfig
from mplib.transplant.io import embedding_matrices, transplant_folder
from tests.transplant._tiny import (
    byte_level_tokenizer,
    sentencepiece_tokenizer,
    tiny_bert,
    tiny_llama,
    wordpiece_tokenizer,
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("transplant")
    base_tok = byte_level_tokenizer()
    for name, tied in (("base_tied", True), ("base_untied", False)):
        tiny_llama(len(base_tok), tied=tied, seed=1).save_pretrained(root / name)
        base_tok.save_pretrained(root / name)
    sp = sentencepiece_tokenizer()
    tiny_llama(len(sp), tied=False, hidden=48, seed=2, bos=1, eos=2).save_pretrained(root / "lm")
    sp.save_pretrained(root / "lm")
    wp = wordpiece_tokenizer()
    tiny_bert(len(wp)).save_pretrained(root / "bert")
    wp.save_pretrained(root / "bert")
    return root


def _reload_and_generate(out):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("the cat sat", return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=4, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 4
    assert int(gen.max()) < len(tok)
    return model, tok


def test_cli_writes_a_folder_that_reloads_and_generates(folders, capsys):
    assert "transplant" in COMMANDS
    out = folders / "out_cli"
    code = cli_main(["transplant", "--base", str(folders / "base_tied"), "--donor",
                     str(folders / "lm"), "--out", str(out), "--method", "omp", "--k", "8"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "omp" and report["k"] == 8 and report["tied_base"]
    assert (out / ".done").exists() and (out / "transplant.json").exists()
    model, tok = _reload_and_generate(out)
    assert tok.get_vocab() == sentencepiece_tokenizer().get_vocab()  # the donor's tokenizer
    assert model.config.vocab_size == len(tok)
    assert model.config.bos_token_id == tok.bos_token_id == 1
    emb, head = embedding_matrices(model)
    assert head is None and emb.shape[0] == len(tok)


def test_untied_base_input_only_donor_copies_rows(folders):
    """An encoder donor (no head) into an untied base: both matrices rebuilt, shared rows kept."""
    from transformers import AutoModelForCausalLM

    out = folders / "out_bert"
    done = transplant_folder(folders / "base_untied", folders / "bert", out,
                             TransplantConfig(k=8), role_map={"cls_token": "bos_token"})
    assert done.report["sources"]["lm_head"].startswith("donor embed")
    assert done.report["donor_rule"] == "wordpiece"
    model, tok = _reload_and_generate(out)
    emb, head = embedding_matrices(model)
    base = AutoModelForCausalLM.from_pretrained(folders / "base_untied")
    b_emb, b_head = embedding_matrices(base)
    base_vocab, donor_vocab = byte_level_tokenizer().get_vocab(), tok.get_vocab()
    d, b = donor_vocab["hello"], base_vocab["Ġhello"]
    assert torch.equal(emb[d], b_emb[b]) and torch.equal(head[d], b_head[b])
    assert (emb[donor_vocab["[unused0]"]] == 0).all()
    assert np.isfinite(emb.numpy()).all()


def test_cli_bad_input_exits_2(folders, capsys):
    code = cli_main(["transplant", "--base", str(folders / "base_tied"), "--donor",
                     str(folders / "lm"), "--out", str(folders / "bad"), "--k", "0"])
    assert code == 2 and "k must be >= 1" in capsys.readouterr().err
    code = cli_main(["transplant", "--base", str(folders / "base_tied"), "--donor",
                     str(folders / "lm"), "--out", str(folders / "bad"), "--k", "48"])
    assert code == 2 and "donor width" in capsys.readouterr().err
    assert not (folders / "bad").exists()
