"""K-ary float64 sum tree: `cpu` (pure torch, the production CPU path), `kernel` (Triton), `op` (custom ops)."""
