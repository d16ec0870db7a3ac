"""Adversarial losses, registered in ``gan_models.registry.LOSSES``."""
