"""The package version, in one place (the ground floor: run fingerprints and the manifest read it)."""

__version__ = "0.1.0"
