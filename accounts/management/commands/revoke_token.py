from django.core.management.base import BaseCommand, CommandError

from accounts.errors import InvalidToken, UnknownToken
from accounts.services import revoke_token
from dgen_ping_site.clock import iso_utc


class Command(BaseCommand):
    help = (
        "Revoke a gateway JWT, given the token itself or its jti; every worker refuses it "
        "within 2 s. An unknown jti is an error; a token already revoked is said so."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--token", help="the token itself (its signature must be valid)")
        target.add_argument("--jti", help="the token's id, as the registry lists it")
        parser.add_argument("--reason", default="", help="why, kept in the registry")

    def handle(self, *args, token, jti, reason, **options):
        try:
            record, revoked_now = revoke_token(raw=token or "", jti=jti or "", reason=reason)
        except (InvalidToken, UnknownToken) as exc:
            raise CommandError(f"Cannot revoke: {exc.detail}") from exc
        if revoked_now:
            self.stdout.write(f"revoked jti={record.jti}")
        else:
            when = iso_utc(record.revoked_at)
            self.stdout.write(f"jti={record.jti} was already revoked at {when}; nothing changed")
