"""How long a sensor tick's W&B calls may retry: every tick must end before Dagster's 60 s.

Example:
    >>> tick_retry_s(40.0)
    15.0
"""


def tick_retry_s(tick_budget_s: float, limit_s: float = 55.0) -> float:
    """How long one W&B call of a tick may retry: the tick must end before Dagster's 60 s.

    Example:
        >>> tick_retry_s(40.0), tick_retry_s(20.0)
        (15.0, 10.0)
    """
    return max(1.0, min(tick_budget_s / 2, limit_s - tick_budget_s))
