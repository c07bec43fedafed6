"""PyTorch reference backend: the official TD-MPC2 (nicklashansen/tdmpc2 @ e9f5932), on CPU or CUDA."""
