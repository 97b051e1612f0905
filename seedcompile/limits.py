"""Size limits, each with a documented environment variable to raise it.

A limit is read where it is used, so a test or a one-off run can set the
variable; a value that is not a whole number above zero is a usage error.
"""

from __future__ import annotations

import os

from seedcompile.errors import UsageError

MAX_SPEC_BYTES_VARIABLE = "SEEDCOMPILE_MAX_SPEC_BYTES"
MAX_YAML_VALUES_VARIABLE = "SEEDCOMPILE_MAX_YAML_VALUES"
MAX_ORDERS_VARIABLE = "SEEDCOMPILE_MAX_ORDERS"
MAX_OUTPUT_BYTES_VARIABLE = "SEEDCOMPILE_MAX_OUTPUT_BYTES"


def limit(variable: str, default: int, environ: dict[str, str] | None = None) -> int:
    """The limit named by `variable` in the environment, else `default`."""
    env = os.environ if environ is None else environ
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError.single(
            "usage.environment",
            f"{variable} must be a whole number above 0, not {raw!r}",
        )
    return value
