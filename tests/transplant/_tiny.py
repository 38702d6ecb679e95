"""Tiny tokenizers and models for the transplant tests, built offline in a fraction of a second."""

from __future__ import annotations

import torch

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "hello", "world", "a", "an",
         "sun", "is", "hot", "cold", "ice", "tea", "cup", "red"]


def byte_level_tokenizer(words=WORDS, *, extra=("ing", "ed", "s")):
    """A byte-level BPE tokenizer (GPT-2 style, ``Ġ`` marker) with a hand-made vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from mplib.transplant.vocab import bytes_to_unicode

    alphabet = sorted(set(bytes_to_unicode().values()))
    vocab = {"<|endoftext|>": 0}
    for c in alphabet:
        vocab.setdefault(c, len(vocab))
    merges = []

    def add(piece: str) -> None:
        # build the piece by left-to-right merges so BPE can reach it
        cur = piece[0]
        for ch in piece[1:]:
            if cur + ch not in vocab:
                merges.append((cur, ch))
                vocab[cur + ch] = len(vocab)
            cur = cur + ch

    for w in words:
        add("Ġ" + w)
    for e in extra:
        add(e)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", unk_token="<|endoftext|>")


def wordpiece_tokenizer(words=WORDS, *, pieces=("##s", "##ing", "##ed", "##t"), n_unused=3):
    """A BERT-style WordPiece tokenizer (lower-cased) with ``[unusedN]`` entries."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0}
    for i in range(n_unused):
        vocab[f"[unused{i}]"] = len(vocab)
    for t in ["[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","]:
        vocab[t] = len(vocab)
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault("##" + c, len(vocab))
    for w in list(words) + ["zebra", "kite", "12", "1998"]:
        vocab.setdefault(w, len(vocab))
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]",
                                   pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")


def sentencepiece_tokenizer(words=WORDS):
    """A SentencePiece-style (``▁`` marker, byte fallback) BPE tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    merges = []
    for c in "▁abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))

    def add(piece: str) -> None:
        cur = piece[0]
        for ch in piece[1:]:
            if cur + ch not in vocab:
                merges.append((cur, ch))
                vocab[cur + ch] = len(vocab)
            cur = cur + ch

    for w in words:
        add("▁" + w)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")


def tiny_llama(vocab_size: int, *, tied: bool, hidden: int = 32, seed: int = 0,
               bos: int | None = 0, eos: int | None = 0):
    """A 2-layer Llama causal LM with random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=64, tie_word_embeddings=tied,
                      bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    model = LlamaForCausalLM(cfg).eval()
    if not tied:  # make the head clearly different from the embeddings
        with torch.no_grad():
            model.lm_head.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(seed + 1))
    return model


def tiny_bert(vocab_size: int, *, hidden: int = 24, seed: int = 0):
    """A 1-layer BERT encoder (no output head: an input-only donor)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=2 * hidden,
                     max_position_embeddings=64)
    return BertModel(cfg).eval()
