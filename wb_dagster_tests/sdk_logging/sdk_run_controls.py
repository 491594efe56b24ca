"""Logs the runs of test_sdk_run_controls.py with the official SDK (run as a subprocess).

argv: mode, project, result_path (a JSON file, updated after every step).
* ``log``: an unnamed run prints two stdout lines and one stderr line, logs loss 1, 2, 3, 4, 5;
  then ``wandb.init(resume_from="<id>?_step=2")`` rewinds it and logs loss 30, 40 (steps 3, 4).
* ``stop``: a run asks for its own stop through the public API (``run.stop()``) and logs until
  the SDK interrupts it (bounded: 30 s).
A ``resume_from`` stays in the SDK's process-wide settings (a later ``wandb.init`` in the same
process rewinds that run again), hence two processes.
"""

import json
import signal
import sys
import time

import wandb
import wandb.sdk.lib.run_stopping as run_stopping

# The SDK asks wandb-core for the stop flag every 15 s (a keyword default bound at import);
# one second keeps the test short without changing what is asked or answered.
run_stopping.RunStopChecker.__init__.__kwdefaults__["poll_interval"] = 1.0  # type: ignore[index]
SETTINGS = wandb.Settings(x_file_stream_transmit_interval=1)  # whole seconds only
# The SDK stops a run with a SIGINT to the main thread. A script started from a terminal has
# Python's handler; one started by a background job of a non-interactive shell (how a CI job
# may run the suite) inherits SIGINT ignored, and the stop would never arrive.
signal.signal(signal.SIGINT, signal.default_int_handler)


def main(mode: str, project: str, result_path: str) -> None:
    result = {}

    def save(**kwargs):
        result.update(kwargs)
        with open(result_path, "w") as fh:
            json.dump(result, fh)

    if mode == "stop":
        stop_itself(project, save)
    else:
        log_and_rewind(project, save)


def log_and_rewind(project, save):

    run = wandb.init(project=project, settings=SETTINGS)
    print("alpha line", flush=True)
    print("beta line", flush=True)
    sys.stdout.flush()
    print("gamma warning", file=sys.stderr, flush=True)
    for loss in (1.0, 2.0, 3.0, 4.0, 5.0):
        run.log({"loss": loss})
    save(entity=run.entity, unnamed_id=run.id, unnamed_name=run.name)
    run.finish()

    rewound = wandb.init(project=project, resume_from=f"{run.id}?_step=2", settings=SETTINGS)
    for loss in (30.0, 40.0):
        rewound.log({"loss": loss})
    save(rewound_id=rewound.id, rewound_name=rewound.name)
    rewound.finish()


def stop_itself(project, save):
    stopped = wandb.init(project=project, settings=SETTINGS)
    save(stopped_id=stopped.id)
    wandb.Api().run(f"{stopped.entity}/{project}/{stopped.id}").stop()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 30:
            stopped.log({"tick": 1})
            time.sleep(0.1)
        save(interrupted_after_s=None)
    except KeyboardInterrupt:
        save(interrupted_after_s=time.monotonic() - started)
        raise  # the SDK ends the run the way an interrupted script does


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
