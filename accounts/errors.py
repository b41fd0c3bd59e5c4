"""Errors of the accounts app, each mapped to an HTTP status once, by DRF."""

from rest_framework import exceptions

# What a call's worst case is made of (llmproxy.metering), as the refusals say it.
WORST_CASE = "prompt + max_tokens, or the model's output limit without max_tokens"


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "Token is invalid or expired."
    default_code = "invalid_token"


class TokenSecretRequired(exceptions.PermissionDenied):
    default_detail = "A valid X-Token-Secret header is required."
    default_code = "invalid_token_secret"


class SoeidMismatch(exceptions.PermissionDenied):
    default_detail = "The soeid in the body does not match the authenticated token."
    default_code = "soeid_mismatch"


class UnknownToken(exceptions.NotFound):
    default_detail = "No such token in the registry."
    default_code = "unknown_token"


class BudgetExceeded(exceptions.APIException):
    """A call whose worst case does not fit in what is left of a budget; `wait` is the
    seconds until that budget's period resets (the Retry-After header)."""

    status_code = 429
    default_detail = "Budget exceeded."
    default_code = "budget_exceeded"

    def __init__(self, detail: str, wait: int):
        super().__init__(detail)
        self.wait = wait


class BudgetUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Budgets cannot be checked right now (the spend ledger is unreachable)."
    default_code = "budget_unavailable"


class UnpricedModel(exceptions.PermissionDenied):
    default_detail = "This model has no price, so a cost budget cannot be applied to it."
    default_code = "unpriced_model"


class UnknownBudget(exceptions.NotFound):
    default_detail = "No such budget."
    default_code = "unknown_budget"
