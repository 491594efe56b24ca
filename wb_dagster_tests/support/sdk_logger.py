"""Logs one run with the official SDK as described by a JSON spec file (run as a subprocess).

Spec keys: project, entity, mode ("online"/"offline"), id, resume, config, tags, rows (each may
carry "_step"; {"_type": "histogram", "values", "bins"} dicts become wandb.Histogram), summary,
file_name + file_hex (saved with run.save), print_lines, exit_code, gzip (bool), result_path
(where the run id and run directory are written). A spec with "runs" (a list of such specs,
without result_path) logs each of them in turn in this one process.
"""

import json
import os
import sys

import wandb


def value(v):
    if isinstance(v, dict) and v.get("_type") == "histogram":
        return wandb.Histogram(np_histogram=(v["values"], v["bins"]))
    return v


def main(spec_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)  # NaN tokens allowed
    results = [log_run(s) for s in spec.get("runs", [spec])]
    with open(spec["result_path"], "w") as fh:
        json.dump(results[0] if "runs" not in spec else {"runs": results}, fh)


def log_run(spec):
    run = wandb.init(
        project=spec["project"],
        entity=spec["entity"],
        id=spec.get("id"),
        resume=spec.get("resume"),
        mode=spec.get("mode", "online"),
        config=spec.get("config"),
        tags=spec.get("tags"),
        settings=wandb.Settings(
            x_file_stream_transmit_interval=1.0,
            x_stats_sampling_interval=0.5,
            x_file_stream_no_gzip=not spec.get("gzip", False),
        ),
    )
    for line in spec.get("print_lines", []):
        print(line, flush=True)
    for row in spec["rows"]:
        row = dict(row)
        step = row.pop("_step", None)
        run.log({k: value(v) for k, v in row.items()}, step=step)
    for key, v in spec.get("summary", {}).items():
        run.summary[key] = v
    if spec.get("file_name"):
        path = os.path.join(run.dir, spec["file_name"])
        with open(path, "wb") as fh:
            fh.write(bytes.fromhex(spec["file_hex"]))
        run.save(path, base_path=run.dir, policy="now")
    result = {"run_id": run.id, "dir": run.dir}
    run.finish(exit_code=spec.get("exit_code", 0))
    return result


if __name__ == "__main__":
    main(sys.argv[1])
