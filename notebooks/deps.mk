# Extra prerequisites between notebooks (hand-kept; included by the Makefile).
# Figs. 12–15 reuse the runs of the Fig. 4 sweep from the run cache: build Fig. 4 first.
$(OUT)/fig12_15_runs.json: $(OUT)/fig04_synthetic_hierarchy.json
# Fig. 19 reuses Fig. 9's CNN–MiniLM joint model and SAEs from the cache.
$(OUT)/fig19_modality_models.json: $(OUT)/fig09_modality.json
# dm_fig10b draws the pursuit reference line from dm_fig10a of the same preset.
$(OUT)/dm_fig10b_earlier_sites.json: $(OUT)/dm_fig10a_pursuit.json
