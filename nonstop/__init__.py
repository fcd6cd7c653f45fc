"""nonstop: prove a Kubernetes rollout is zero-downtime under real load, and stop it when it is not."""

from nonstop.errors import NonstopError

__all__ = ["NonstopError", "__version__"]

__version__ = "0.1.0"
