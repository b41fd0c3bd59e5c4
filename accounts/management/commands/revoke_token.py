from django.core.management.base import BaseCommand, CommandError

from accounts.errors import InvalidToken
from accounts.services import revoke_token


class Command(BaseCommand):
    help = "Revoke a gateway JWT, given the token itself or its jti."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--token")
        target.add_argument("--jti")
        parser.add_argument("--reason", default="")

    def handle(self, *args, token, jti, reason, **options):
        try:
            revoked = revoke_token(raw=token or "", jti=jti or "", reason=reason)
        except InvalidToken as exc:
            raise CommandError(f"Cannot revoke: {exc.detail}") from exc
        self.stdout.write(f"revoked jti={revoked.jti}")
