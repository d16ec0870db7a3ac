"""Distributed training of fusion GANs: per-worker loop (Ray Train or in-process), sharded data, Ray runtime."""
