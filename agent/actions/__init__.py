"""Camera actions: plan → snapshot → apply → verify over a list of settings, and their per-vendor settings."""
