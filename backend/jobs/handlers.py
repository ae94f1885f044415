"""Importing this registers the job kinds every app defines (the worker and the web process both need them)."""

from importlib import import_module

# Each module decorates its handlers with @job_handler.
JOB_MODULES = ("backend.mlmodels.jobs", "backend.quality.jobs", "datasets.jobs", "annotator.jobs")

for module in JOB_MODULES:
    import_module(module)
