"""Every registered stage, one folder per name prefix: filter/ clean/ dedup/ mix/ format/ score/ select/ tag/.

Nothing outside this package imports it except ``curate.pipeline.registry``, which reads each
family's ``STAGES`` dict and imports a stage's module by name only when a recipe uses it.
"""
