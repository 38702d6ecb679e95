# Extra prerequisites between notebooks (hand-kept; included by the Makefile).
# Figs. 12–15 reuse the runs of the Fig. 4 sweep from the run cache: build Fig. 4 first.
$(OUT)/fig12_15_runs.json: $(OUT)/fig04_synthetic_hierarchy.json
# Fig. 19 reuses Fig. 9's CNN–MiniLM joint model and SAEs from the cache.
$(OUT)/fig19_modality_models.json: $(OUT)/fig09_modality.json
