"""Pipeline stages: each a module with run(params) and a __main__ reading params.yaml."""
