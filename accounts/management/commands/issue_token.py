from django.core.management.base import BaseCommand, CommandError

from accounts.management.output import operator
from accounts.serializers import GenerateTokenInput
from accounts.services import issue_token
from accounts.tokens import SOEID_RULE
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.exceptions import fields_text


class Command(BaseCommand):
    help = (
        "Issue a gateway JWT for a SOEID and record it in the token registry. Prints the "
        "token on the first line (scripts: `| head -n1`), then its jti and expiry."
    )

    def add_arguments(self, parser):
        parser.add_argument("soeid", help=f"who the token is for: {SOEID_RULE}")
        parser.add_argument("--project-id", default="", help="project the token is scoped to")
        parser.add_argument(
            "--expires-in",
            type=int,
            help="lifetime in seconds, at least 1 and at most TOKEN_MAX_LIFETIME_SECONDS "
            "(default: TOKEN_LIFETIME_SECONDS)",
        )
        parser.add_argument("--name", default="", help="what the token is for (registry)")

    def handle(self, *args, soeid, project_id, expires_in, name, **options):
        # The API's own rules (accounts.serializers), so both refuse the same things.
        given = {"project_id": project_id, "expires_in": expires_in, "name": name}
        data = {
            "soeid": soeid,
            **{key: value for key, value in given.items() if value not in (None, "")},
        }
        params = GenerateTokenInput(data=data)
        if not params.is_valid():
            raise CommandError(f"Cannot issue the token: {fields_text(params.errors)}")
        issued = issue_token(**params.validated_data, issued_by=f"command:{operator()}")
        self.stdout.write(issued.token)
        self.stdout.write(f"jti={issued.jti} expires_at={iso_utc(issued.expires_at)}")
