"""Registered in gan_models.registry."""
