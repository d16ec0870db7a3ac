"""Topologies ("systems"): registered in ``gan_models.registry.SYSTEMS``."""
