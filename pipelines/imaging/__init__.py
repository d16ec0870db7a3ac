"""Image conversions shared by readers, baselines, models and metrics."""
