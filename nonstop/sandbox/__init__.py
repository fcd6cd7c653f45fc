"""The embedded sandbox: our own API server, controllers, kubelet and data plane (docs/sandbox.md)."""
