"""The colocation-degradation predictor: graph features, the profiler, LightGBM models, evaluation."""
