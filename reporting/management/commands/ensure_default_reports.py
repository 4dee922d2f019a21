from django.conf import settings
from django.contrib.auth import get_user_model

from common.commands import PlatformCommand
from reporting.services import report_definition_ensure_default


class Command(PlatformCommand):
    help = (
        "Create the platform's end-of-day report definition (weekdays 18:00 in TIME_ZONE, to "
        "the demo admin's address) if there is none; an existing one is left as it is."
    )
    exit_codes = {
        0: "created or kept the definition; or created none by design (the demo admin is "
        "missing or has no email address), said in one line",
        1: "failed (the reason is printed)",
    }

    def handle(self, *args, **options):
        username = settings.DEMO_ADMIN_USERNAME
        admin = get_user_model().objects.filter(username=username).first()
        if admin is None or not admin.email:
            self.stdout.write(
                f"No report definition created: the demo admin {username!r} is missing or has "
                "no email address."
            )
            return
        definition, created = report_definition_ensure_default(to=admin.email)
        verb = "Created" if created else "Keeping"
        self.stdout.write(
            f"{verb} report definition {definition.name!r} (#{definition.pk}): "
            f"{'enabled' if definition.enabled else 'paused'}, to {definition.to_recipients}."
        )
