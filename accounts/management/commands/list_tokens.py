from django.core.management.base import BaseCommand

from accounts.management.output import rows_text
from accounts.selectors import TOKEN_STATUSES, registered_tokens
from accounts.serializers import TokenRecordOutput

COLUMNS = ["jti", "soeid", "project_id", "name", "issued_at", "expires_at", "issued_by", "status"]


class Command(BaseCommand):
    help = "List the token registry, newest first: every issued token, never the token itself."

    def add_arguments(self, parser):
        parser.add_argument("--soeid", help="only this person's tokens")
        parser.add_argument("--project", help="only tokens scoped to this project")
        parser.add_argument("--status", choices=TOKEN_STATUSES, help="only tokens in this state")
        parser.add_argument("--limit", type=int, default=100, help="at most this many (100)")
        parser.add_argument(
            "--format", choices=["table", "json"], default="table", help="output format"
        )

    def handle(self, *args, soeid, project, status, limit, format, **options):
        rows = registered_tokens(soeid=soeid, project=project, status=status)[: max(0, limit)]
        records = TokenRecordOutput(rows, many=True).data
        self.stdout.write(rows_text(records, COLUMNS, format, none="No tokens match."))
