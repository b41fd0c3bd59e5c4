"""Errors of the accounts app, each mapped to an HTTP status once, by DRF."""

from rest_framework import exceptions


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
