from django.core.management.base import BaseCommand

from schedules.services.default_schedules import default_schedules_sync


class Command(BaseCommand):
    help = "Create or update the platform's own periodic tasks by name (idempotent)."

    def handle(self, *args, **options):
        counts = default_schedules_sync()
        self.stdout.write(
            "Default schedules: {created} created, {updated} updated, "
            "{unchanged} unchanged.".format(**counts)
        )
