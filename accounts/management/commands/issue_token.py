from django.core.management.base import BaseCommand, CommandError

from accounts.tokens import SOEID_RULE, is_valid_soeid, issue_token
from dgen_ping_site.clock import iso_utc


class Command(BaseCommand):
    help = "Issue a gateway JWT for a SOEID and print it."

    def add_arguments(self, parser):
        parser.add_argument("soeid")
        parser.add_argument("--project-id", default="")
        parser.add_argument("--expires-in", type=int, help="lifetime in seconds")

    def handle(self, *args, soeid, project_id, expires_in, **options):
        if not is_valid_soeid(soeid):
            raise CommandError(f"Invalid SOEID {soeid!r}: must be {SOEID_RULE}.")
        issued = issue_token(soeid=soeid, project_id=project_id, expires_in=expires_in)
        self.stdout.write(issued.token)
        self.stderr.write(f"jti={issued.jti} expires_at={iso_utc(issued.expires_at)}")
