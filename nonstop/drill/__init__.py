"""The drill: preflight, load, the rollout under observation, and the evidence the checks judge."""
