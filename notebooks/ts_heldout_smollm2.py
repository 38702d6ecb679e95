# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: mplib (.venv)
#     language: python
#     name: mplib
# ---

# %% [markdown]
# # Held-out split on SmolLM2 — OMP gives the lowest LM loss, and row cosine disagrees
#
# *Training-Free Tokenizer Transplantation via Orthogonal Matching Pursuit* (Goddard &
# Fernandes Neto, 2025): OMP "consistently achieves the best overall performance" among
# zero-shot initialisations. The paper transplants 1–12 B models; offline we use a **held-out
# split with ground truth**: base SmolLM2-135M (tied embeddings), donor MiniLM's input
# embeddings (384-d). Shared tokens are found by normalised keys (byte-level BPE decoded to text,
# a leading space = word start; WordPiece `##w` = continuation). We **hide** shared frequent
# word tokens from the anchors, rebuild their base rows from the donor by each arm (k steps of OMP
# of the donor row over the remaining anchors' donor rows, coefficients applied to their base
# rows; the baselines), keep every other row, and score both the **row cosine** to the true row
# (a diagnostic) and the **LM loss** on held-out Wikipedia text (mean next-token nats; bits per
# byte; ratio to the original model, 1.00 = no loss), scoring by function as the paper does by
# benchmarks. Seeds = different hidden sets (≥ 3); intervals: bootstrap over documents.
#
# **What to look at:** panel A, the loss of each arm (lower is better); panel B, row cosine vs
# loss — the arm with the best cosine is not the arm with the best loss.
#
# Substitute: SmolLM2/MiniLM instead of the paper's Llama/Qwen/Mistral pairs; Wikipedia text from
# gensim's test data. Runtime (2 cores): smoke seconds, quick ≈ 2 min, full ≈ 4 min (the original
# model's per-token losses and every approximation are cached).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # hidden sets use seeds seed .. seed + n_seeds - 1; also the document split
n_seeds: int = 3  # hidden sets (at least 3)
n_docs: int = 2  # held-out documents (full: 8)
max_tokens: int = 256  # tokens kept per document
n_hidden: int = 50  # hidden shared word tokens per seed (pilot: 300)
ks: list = [8, 32, 64]  # OMP steps
n_boot: int = 1000  # bootstrap resamples over documents

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.datasets import load_documents, split_documents
from mplib.experiments.transplant import Arm, row_cosine
from mplib.experiments.transplant_lm import (
    cached_rows,
    count_tokens,
    heldout_split,
    match_keys,
    rows_patched,
)
from mplib.models import load_minilm, load_smollm2
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims
from mplib.transplant.score import (
    bootstrap_ratio,
    score_from_tokens,
    score_text,
    score_text_cached,
)

STEM = "ts_heldout_smollm2"
params = dict(preset=preset, seed=seed, n_seeds=n_seeds, n_docs=n_docs, max_tokens=max_tokens,
              n_hidden=n_hidden, ks=ks, n_boot=n_boot)
use_style()
mplib.show_versions()
arms = (Arm("zero"), Arm("mean"), Arm("knn_softmax", 32), Arm("linear"),
        *[Arm("omp", int(k)) for k in ks], *[Arm("omp_centered", int(k)) for k in ks])
lm, donor = load_smollm2(), load_minilm()
E_b = lm.model.get_input_embeddings().weight.detach().double().numpy()
E_d = donor.model.embeddings.word_embeddings.weight.detach().double().numpy()
match = match_keys(lm.tokenizer, donor.tokenizer)
docs = split_documents(load_documents("wiki"), fractions=(0.5, 0.5), seed=seed)["eval"]
texts = [d.text for d in docs[:n_docs]]
start_row = E_b[lm.tokenizer.bos_token_id]
print(f"{len(match.anchors_donor)} shared tokens; {len(texts)} documents")

# %%
ref = score_text_cached(lm.model, lm.tokenizer, texts, stem=STEM, identity=lm.identity,
                        start_row=start_row, max_tokens=max_tokens)
counts = count_tokens(lm.tokenizer, texts)
print(f"original: {ref.nats / ref.n_tokens:.3f} nats/token, {ref.bpb:.3f} bpb")
records = []
for s in range(seed, seed + n_seeds):
    hid = heldout_split(match, counts, n_hidden=n_hidden, pool=3 * n_hidden, seed=s)
    keep = np.setdiff1d(np.arange(len(match.anchors_donor)), hid)
    hid_base = match.anchors_base[hid]
    T, A_d = E_d[match.anchors_donor[hid]], E_d[match.anchors_donor[keep]]
    A_b = E_b[match.anchors_base[keep]]
    share = float(np.isin(ref.tokens.token_id, hid_base).mean())
    ref_split = score_from_tokens(ref.tokens, new_ids=hid_base).loss_new_vs_shared
    for arm in arms:
        rows = cached_rows(STEM, arm, T, A_d, A_b, base_rows=E_b, tag="heldout")
        with rows_patched(lm.model, hid_base, rows):
            sc = score_text(lm.model, lm.tokenizer, texts, start_row=start_row,
                            new_ids=hid_base, max_tokens=max_tokens)
        ci = bootstrap_ratio(sc, ref, n_boot=n_boot, seed=s)
        split = sc.loss_new_vs_shared
        records.append({"seed": s, "arm": arm.label, "method": arm.method, "k": arm.k,
                        "row_cosine": float(row_cosine(rows, E_b[hid_base]).mean()),
                        "mean_nats": sc.nats / sc.n_tokens, "bpb": sc.bpb,
                        "loss_ratio": ci.estimate, "loss_ratio_ci": [ci.low, ci.high],
                        "loss_hidden_targets": split.new, "loss_other_targets": split.shared,
                        "original_hidden_targets": ref_split.new,
                        "original_other_targets": ref_split.shared,
                        "hidden_position_share": share, "new_row_mass": sc.new_row_mass})
        print(f"seed {s} {arm.label:>16}: cos {records[-1]['row_cosine']:.3f}  "
              f"loss {records[-1]['mean_nats']:.3f}  ratio {ci.estimate:.3f} "
              f"[{ci.low:.3f}, {ci.high:.3f}]  others {split.shared:.3f}")

# %% [markdown]
# ## Panel A: LM loss per arm; panel B: row cosine vs LM loss
# Mean over hidden sets (seeds) ± std; the dotted line is the original model.

# %%
def agg(key):
    """Mean and std over seeds of one record field, per arm."""
    return {a.label: (float(np.mean([r[key] for r in records if r["arm"] == a.label])),
                      float(np.std([r[key] for r in records if r["arm"] == a.label])))
            for a in arms}


loss, cos, ratio = agg("mean_nats"), agg("row_cosine"), agg("loss_ratio")
others = agg("loss_other_targets")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.6))
labels = [a.label for a in arms]
ax1.bar(range(len(labels)), [loss[x][0] for x in labels], yerr=[loss[x][1] for x in labels],
        color="0.6")
ax1.axhline(ref.nats / ref.n_tokens, ls=":", color="k", lw=1)
ax1.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=6)
ax1.set(ylabel="mean next-token loss (nats)", title="A  LM loss (lower is better)")
for x in labels:
    ax2.errorbar(cos[x][0], loss[x][0], xerr=cos[x][1], yerr=loss[x][1], marker="o", ms=3)
    ax2.annotate(x, (cos[x][0], loss[x][0]), fontsize=5)
ax2.set(xlabel="row cosine to the true row (diagnostic)", ylabel="mean loss (nats)",
        title="B  cosine vs loss")
plt.show()

# %% [markdown]
# ## Claims, checked on our numbers

# %%
omp_labels = [a.label for a in arms if a.method == "omp"]
base_labels = [a.label for a in arms if a.method in ("zero", "mean", "knn_softmax", "linear")]
best_omp = min(omp_labels, key=lambda x: loss[x][0])
best_base = min(base_labels, key=lambda x: loss[x][0])
best_cos, best_loss = max(labels, key=lambda x: cos[x][0]), min(labels, key=lambda x: loss[x][0])
rank_c = np.argsort(np.argsort([-cos[x][0] for x in labels]))
rank_l = np.argsort(np.argsort([loss[x][0] for x in labels]))
rho = float(np.corrcoef(rank_c, rank_l)[0, 1])
claims = [
    claim("heldout_omp_best", "OMP gives the best zero-shot initialisation (lowest LM loss) "
          "among zero, mean, kNN and linear-map baselines",
          paper_value="OMP consistently best overall (to verify against the paper); pilot: "
          "OMP-32 5.26 nats vs kNN 8.96, mean 9.13, zero 12.95",
          ours=loss[best_omp][0] - loss[best_base][0], verdict=loss[best_omp][0] < loss[best_base][0],
          note=f"ours = loss({best_omp}) − loss({best_base}) in nats (negative: OMP better)"),
    claim("heldout_cosine_disagrees", "row cosine and LM loss rank the methods differently",
          paper_value="pilot: kNN best cosine (0.67 vs 0.58) but much worse loss",
          ours=rho, verdict=best_cos != best_loss, partly=rho < 0.9,
          note=f"ours = Spearman rank correlation of cosine and loss over arms; best cosine "
               f"{best_cos}, best loss {best_loss}"),
]
print(format_claims(claims))
for x in labels:
    print(f"{x:>16}: loss {loss[x][0]:.3f} ± {loss[x][1]:.3f}  ratio {ratio[x][0]:.3f}  "
          f"cos {cos[x][0]:.3f}  other-target loss {others[x][0]:.3f}")

# %% [markdown]
# ## Save

# %%
save_figure(fig, STEM, preset=preset, figure="§ held-out split (offline fallback)",
            paper="Goddard & Fernandes Neto 2025 (tokensurgeon)",
            results={"records": records, "claims": claims,
                     "summary": {x: {"mean_nats": loss[x], "row_cosine": cos[x],
                                     "loss_ratio": ratio[x], "loss_other_targets": others[x]}
                                 for x in labels},
                     "original": {"mean_nats": ref.nats / ref.n_tokens, "bpb": ref.bpb,
                                  "n_tokens": ref.n_tokens, "n_bytes": ref.n_bytes},
                     "pilot": {"original": 3.14, "zero": 12.95, "mean": 9.13,
                               "kNN-softmax-32": 8.96, "linear map": 9.38, "OMP-8": 6.11,
                               "OMP-32": 5.26, "OMP-64": 5.27,
                               "note": "pilot: donor e5, 300 hidden, 10,240 tokens, one seed"},
                     "n_shared": len(match.anchors_donor)},
            params=params, substitute="SmolLM2-135M base, MiniLM donor, held-out split of "
            "shared tokens (not the paper's 1-12 B model pairs)")
