"""Plain helpers shared by more than one test area; fixtures stay in the ``conftest.py`` files.

* :mod:`.clients`: our ``WandbClient`` and the official SDK's ``wandb.Api`` against a local server.
* :mod:`.sdk_env`: the isolated directories and settings the official SDK gets in one test.
* :mod:`.sdk_process`: the official SDK run in a subprocess (``sdk_logger.py`` logs from a spec).
* :mod:`.history_rows`: history rows (the SDK's and ours) normalized the same way to compare.
* :mod:`.polling`: bounded waits.
* :mod:`.crash`: a writer SIGKILLed in the middle of a write.
* :mod:`.loopback_http`: a threaded HTTP server on 127.0.0.1 for scripted raw answers.

A helper only one area uses lives in that area, in a module named for what it holds (for
example ``reliability/demo_assets.py``).
"""
