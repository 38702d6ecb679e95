# Extra prerequisites between notebooks (hand-kept; included by the Makefile).
# Figs. 12–15 reuse the runs of the Fig. 4 sweep from the run cache: build Fig. 4 first.
$(OUT)/fig12_15_runs.json: $(OUT)/fig04_synthetic_hierarchy.json
