"""Exact, near and semantic dedup.

``dedup.semantic`` (curate.stages.dedup.semantic) is listed in curate.stages.select.STAGES until
this family's STAGES dict lands with the layout move.
"""
