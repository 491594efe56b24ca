"""Benchmarks of wb_dagster against the official ``wandb`` SDK (scripts, not tests).

Run everything with ``python bench/run.py`` (see README, section "Benchmarks").
"""
