"""The asset factories of one W&B project, one module per asset family.

* :mod:`.runs` the run table (incremental refresh in :mod:`.runs_table`);
* :mod:`.run_data` ``run_history`` + ``run_system_metrics`` (+ console logs, tables), whose
  work is :mod:`.run_export`, :mod:`.history_sync`, :mod:`.export_progress`,
  :mod:`.console_logs` and :mod:`.tables`;
* :mod:`.sweep_best_model` each sweep's best model; :mod:`.artifacts` artifact collections;
* :mod:`.checks` the asset checks; :mod:`.factory_defaults` what every factory shares.

Example:
    >>> import wb_dagster.assets.runs
"""
