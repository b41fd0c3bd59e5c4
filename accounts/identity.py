"""Who is calling: the identity an authenticated request carries as `request.user`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayIdentity:
    """A person identified by SOEID, from a verified token or the development default token.

    Tokens are not tied to Django users: the SOEID is the identity, so this duck-types the
    few attributes DRF and Django read from a user.
    """

    soeid: str
    project_id: str = ""
    jti: str = ""
    is_default: bool = False

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    @property
    def pk(self) -> str:
        return self.soeid

    def __str__(self) -> str:
        # What pages show as the signed-in user (the browsable API's top bar), as for a
        # Django user's username.
        return self.soeid
