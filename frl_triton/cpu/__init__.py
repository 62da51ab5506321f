"""Fused CPU kernels of frl.returns: a plain-C reverse scan compiled on first use (see build.py)."""
