"""Bundled data (example manifests, drills, deploy files), installed as `nonstop.bundled_config`; no code."""
