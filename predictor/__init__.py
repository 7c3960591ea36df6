"""The colocation-degradation predictor: feature rows, the profiler, LightGBM models, evaluation, its service."""
