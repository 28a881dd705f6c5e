"""The Ray executor (optional: ``pip install 'curate[ray]'``); see ``executor.RayExecutor``."""

from curate.pipeline.executors.ray.executor import RayExecutor

__all__ = ["RayExecutor"]
