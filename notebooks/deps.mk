# Extra prerequisites between notebooks (hand-kept; included by the Makefile).
# Figs. 12–15 reuse the runs of the Fig. 4 sweep from the run cache: build Fig. 4 first.
$(OUT)/fig12_15_runs.json: $(OUT)/fig04_synthetic_hierarchy.json
# Fig. 19 reuses Fig. 9's CNN–MiniLM joint model and SAEs from the cache.
$(OUT)/fig19_modality_models.json: $(OUT)/fig09_modality.json
# dm_fig10b draws the pursuit reference line from dm_fig10a of the same preset.
$(OUT)/dm_fig10b_earlier_sites.json: $(OUT)/dm_fig10a_pursuit.json
# Figs. 6, 7, 8 and 17 read the SAE family trained by Fig. 5 from the cache: build Fig. 5 first.
$(OUT)/fig06_effective_rank.json: $(OUT)/fig05_pareto.json
$(OUT)/fig07_babel.json: $(OUT)/fig05_pareto.json
$(OUT)/fig08_adaptive_k.json: $(OUT)/fig05_pareto.json
$(OUT)/fig17_coherence.json: $(OUT)/fig05_pareto.json
$(OUT)/dm_per_token.json: $(OUT)/dm_fig01_scaling.json
$(OUT)/dm_fig07_norm_violin.json: $(OUT)/dm_fig01_scaling.json
