from common.commands import PlatformCommand
from schedules.services.default_schedules import default_schedules_sync


class Command(PlatformCommand):
    help = "Create or update the platform's own periodic tasks by name (idempotent)."
    exit_codes = {
        0: "done, with how many were created, updated and unchanged (0 changed is fine)",
        1: "failed (a default schedule an app declares is invalid, or the database is "
        "unreachable; the reason is printed)",
    }

    def handle(self, *args, **options):
        counts = default_schedules_sync()
        self.stdout.write(
            "Default schedules: {created} created, {updated} updated, "
            "{unchanged} unchanged.".format(**counts)
        )
