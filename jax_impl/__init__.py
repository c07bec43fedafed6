"""JAX/Flax/Optax + MuJoCo-MJX backend: the fast twin of torch_ref, checked against it by parity/."""
