"""MLflow tracking for medfuse: tracking URI and experiments, lineage tags, the pyfunc fusion model, the registry."""
