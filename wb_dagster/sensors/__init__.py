"""The sensors that turn W&B changes into partitions and run requests.

* :mod:`.runs` ended runs, :mod:`.sweeps` finished sweeps, :mod:`.artifacts` artifact
  versions, :mod:`.deleted_runs` runs deleted in W&B;
* :mod:`.batches` how run partitions are batched into Dagster runs, :mod:`.fingerprints`
  what makes a run or sweep worth storing again, :mod:`.tick_budget` a tick's retry budget.

Example:
    >>> import wb_dagster.sensors.runs
"""
