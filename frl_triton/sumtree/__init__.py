"""K-ary float64 sum tree: `reference` (pure torch, the CPU path), `kernel` (Triton), `op` (custom ops)."""
