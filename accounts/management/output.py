"""What the accounts commands share: naming the operator, and saying what input was wrong."""

import getpass


def operator() -> str:
    """The operating-system user running a command, as the registry's `issued_by` names it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def field_errors(errors: dict) -> str:
    """A serializer's errors as one line: 'field: message; field: message'."""
    return "; ".join(f"{name}: {' '.join(map(str, messages))}" for name, messages in errors.items())
