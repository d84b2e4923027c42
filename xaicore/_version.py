"""The package version (one place: ``xaicore.__version__`` and the job manifests)."""
__version__ = "0.1.0"
