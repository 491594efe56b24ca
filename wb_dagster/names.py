"""How W&B entity and project names become Dagster asset-key parts and definition names.

W&B accepts almost any project name (``my runs``, ``проект``, ``a+b``); Dagster is stricter in
two different ways, so there are two rules, both free of collisions:

* **Asset-key parts** (and so storage paths, which follow the keys): a name made of
  ``[A-Za-z0-9_-]`` is used as it is (``wb-demo``, ``my_proj``). Any other character is
  written as ``.`` plus two hex digits per UTF-8 byte, like percent-encoding with ``.``
  (``my runs`` -> ``my.20runs``, ``v1.0`` -> ``v1.2e0``). Dagster builds input names from
  key parts and accepts only letters, digits, ``_``, ``-`` and ``.`` there; the encoding is
  reversible (:func:`name_from_key_part`) and never yields ``..`` or ``/``.
* **Definition names** (ops, jobs, sensors, schedules, partition sets, groups: Dagster allows
  only ``[A-Za-z0-9_]``): ``<entity>__<project>`` with ``-`` written as ``_`` when both names
  are letters and digits joined by single hyphens (``wb-demo/cifar`` -> ``wb_demo__cifar``,
  exactly reversible). Any other pair is reduced to ``[A-Za-z0-9_]`` for readability and gets
  a third part ``h<8 hex digits>`` hashed from the real names, so ``my-proj`` and ``my_proj``
  never share a name. The real names stay in every asset's metadata (``wandb/entity``,
  ``wandb/project``) and descriptions.

Example:
    >>> key_part("my runs"), name_from_key_part("my.20runs"), key_part("wb-demo")
    ('my.20runs', 'my runs', 'wb-demo')
    >>> project_name("wb-demo", "cifar")
    'wb_demo__cifar'
    >>> project_name("team", "my_proj") != project_name("team", "my-proj")
    True
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_KEY_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ESCAPED = re.compile(r"((?:\.[0-9a-f]{2})+)")
_PLAIN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")
_HASH_DIGITS = 8


def check_wandb_name(what: str, name: str) -> str:
    """``name`` if W&B could have it as an entity or project name; else a clear ``ValueError``.

    Example:
        >>> check_wandb_name("project", "my runs")
        'my runs'
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"the W&B {what} name is empty ({name!r}); give the {what} as W&B shows it"
        )
    bad = sorted({c for c in name if c in "/\\#?%:" or ord(c) < 32})
    if bad:
        raise ValueError(
            f"{name!r} is not a W&B {what} name: W&B names cannot contain {bad!r}; give the "
            f"{what} alone (an entity and a project are separate arguments)"
        )
    return name


def key_part(name: str) -> str:
    """The asset-key part (and storage-path segment) of a W&B entity or project name.

    Example:
        >>> key_part("проект")
        '.d0.bf.d1.80.d0.be.d0.b5.d0.ba.d1.82'
    """
    return "".join(c if _KEY_SAFE.fullmatch(c) else _escape(c) for c in name)


def _escape(char: str) -> str:
    return "".join(f".{b:02x}" for b in char.encode("utf-8"))


def name_from_key_part(part: str) -> str:
    """The W&B name a :func:`key_part` came from (its exact inverse).

    Example:
        >>> name_from_key_part(key_part("a+b c.d")) == "a+b c.d"
        True
    """
    return _ESCAPED.sub(lambda m: bytes.fromhex(m.group(1).replace(".", "")).decode("utf-8"), part)


def _reduced(name: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_NAME.sub("_", ascii_text).strip("_") or "x"


def project_name(entity: str, project: str) -> str:
    """``entity/project`` as one Dagster definition-name fragment (see the module docstring).

    Example:
        >>> project_name("team", "my runs")
        'team__my_runs__h95f8d2d6'
    """
    return definition_name(entity, project)


def definition_name(*names: str) -> str:
    """W&B names (entity, project, then e.g. an artifact collection) as one definition-name
    fragment, by the rule of :func:`project_name`.

    Example:
        >>> definition_name("wb-demo", "cifar", "cifar-model")
        'wb_demo__cifar__cifar_model'
    """
    if all(_PLAIN.fullmatch(n) for n in names):
        return "__".join(n.replace("-", "_") for n in names)
    digest = hashlib.sha256("/".join(names).encode()).hexdigest()[:_HASH_DIGITS]
    return "__".join(_reduced(n) for n in names) + f"__h{digest}"
