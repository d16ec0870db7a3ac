"""Critic regularizers (registered in ``gan_models.registry.REGULARIZERS``) and loss helpers.

Registered (signature ``(critic, real, fake, **params) -> LossTerms``): ``gradient_penalty`` (WGAN-GP),
``lipschitz_penalty`` (WGAN-LP), ``wgan_div_penalty``, ``r1``, ``dragan``.  Plain functions: ``apply_regularizers``,
``clip_weights_``, ``critic_post_step``, ``pull_away_term``, ``infogan_mutual_information``,
``apply_spectral_norm``; state: ``FisherConstraint``; module: ``McGANCovHead``.  See docs/losses.md.
"""
from gan_models.regularizers.apply import apply_regularizers  # noqa: F401
from gan_models.regularizers.gradient import (dragan_penalty, gradient_penalty, interpolates,  # noqa: F401
                                              lipschitz_penalty, r1_penalty, wgan_div_penalty)
from gan_models.regularizers.post_step import clip_weights_, critic_post_step  # noqa: F401
