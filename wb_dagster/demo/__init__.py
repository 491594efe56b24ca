"""``wb-dagster demo``: the demo W&B project turned into Dagster assets by Dagster's own daemon.

* :mod:`.run` the entry point (server and Dagster started and stopped, the steps in order);
* :mod:`.story` the steps on the W&B side, :mod:`.progress` what a step waits for,
  :mod:`.watch` polling the daemon, :mod:`.models` the model artifacts, :mod:`.summary` the end;
* :mod:`.printer` the output; :mod:`.definitions` the code location ``dagster dev`` loads;
  :mod:`.training` the training script logged through the official ``wandb`` SDK.

Example:
    >>> import wb_dagster.demo.printer
"""
