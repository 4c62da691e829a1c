"""imagepipe: serverless image upload pipeline (domain, adapters, API)."""

__version__ = "0.1.0"
