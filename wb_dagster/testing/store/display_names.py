"""W&B-style display names for runs created without one (``fluent-sun-3``).

W&B gives every run that ``wandb.init()`` creates without ``name=`` a human-readable display
name, ``<adjective>-<noun>-<n>`` where ``n`` is the run's number in its project; the run id
stays the 8-character hash (the W&B guide reads it back as ``wandb.run.name``). The words here
are drawn from the run id's hash, so a given id always gets the same name (tests that need a
fixed name pass an explicit id or ``name=``).

Example:
    >>> name = display_name_for("a1b2c3d4", 3)
    >>> name.endswith("-3"), name == display_name_for("a1b2c3d4", 3)
    (True, True)
    >>> is_generated_name("misty-comet-3"), is_generated_name("a1b2c3d4")
    (True, False)
"""

from __future__ import annotations

import hashlib
import re

ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "cosmic", "crisp", "dainty", "dapper",
    "devout", "dry", "eager", "earthy", "easy", "fanciful", "fast", "fluent", "fresh",
    "gentle", "glad", "golden", "grateful", "hardy", "icy", "jolly", "lively", "lucky",
    "misty", "noble", "polished", "proud", "quiet", "rosy", "rural", "sage", "sandy",
    "sleek", "smart", "snowy", "solar", "stellar", "still", "sunny", "swift", "tidy",
    "vivid", "warm", "wild", "wise", "zesty",
)  # fmt: skip
NOUNS = (
    "aurora", "bird", "bush", "brook", "butterfly", "cloud", "comet", "dawn", "deluge",
    "dew", "dream", "dust", "energy", "feather", "field", "fire", "firefly", "flower",
    "fog", "forest", "frog", "frost", "galaxy", "glade", "grass", "haze", "hill", "lake",
    "leaf", "meadow", "moon", "morning", "mountain", "night", "ocean", "planet", "pond",
    "rain", "river", "sea", "shadow", "sky", "smoke", "snow", "star", "sun", "thunder",
    "valley", "water", "wind",
)  # fmt: skip

_GENERATED = re.compile(r"^[a-z]+-[a-z]+-[0-9]+$")


def display_name_for(run_id: str, number: int) -> str:
    """The display name of the ``number``-th run of a project whose id is ``run_id``."""
    digest = hashlib.sha256(run_id.encode()).digest()
    adjective = ADJECTIVES[int.from_bytes(digest[:4], "big") % len(ADJECTIVES)]
    noun = NOUNS[int.from_bytes(digest[4:8], "big") % len(NOUNS)]
    return f"{adjective}-{noun}-{number}"


def is_generated_name(name: str | None) -> bool:
    """Whether ``name`` has the shape of a generated display name."""
    return bool(name) and bool(_GENERATED.match(name or ""))
