"""Writing results back to W&B: analysis runs (:mod:`.analysis_runs`) and artifact versions
(:mod:`.artifact_publish`).

Example:
    >>> import wb_dagster.writeback.analysis_runs
"""
