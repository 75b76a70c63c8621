"""Training: the trainer, losses, checkpoints and the run directory."""
