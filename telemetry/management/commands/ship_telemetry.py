import signal

from django.core.management.base import BaseCommand

from telemetry.shipper_process import SpoolShipper
from telemetry.supervisor import STOP_SIGNALS


class Command(BaseCommand):
    help = (
        "Ship the telemetry spool of the gunicorn workers into the stores, until SIGTERM "
        "(then ship what is left and exit). gunicorn's master runs and restarts it "
        "(gunicorn.conf.py); run by hand, it ships what stopped workers left."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--parent",
            type=int,
            help="exit (after shipping what is left) once this process is gone",
        )
        parser.add_argument("--once", action="store_true", help="ship what is there now, then exit")

    def handle(self, *args, parent=None, once=False, **options):
        shipper = SpoolShipper.from_settings(parent=parent)
        if once:
            shipper.stop()
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda *_: shipper.stop())
        # Started by the master with them blocked (telemetry.supervisor): one sent meanwhile
        # is delivered now, to the handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        shipper.run()
