"""Example downstream ML pipeline on W&B assets: leaderboard, learning curves, model promotion
and findings written back to W&B (see ``assets.py`` for the lineage, ``definitions.py`` for the
code location that ``workspace.yaml`` loads)."""
