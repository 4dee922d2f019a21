from django.conf import settings
from django.contrib.auth import get_user_model

from common.commands import PlatformCommand


class Command(PlatformCommand):
    help = "Create the demo admin account if it does not exist, and print how to log in."
    exit_codes = {0: "created or reused the demo admin", 1: "failed (the reason is printed)"}

    def handle(self, *args, **options):
        username = settings.DEMO_ADMIN_USERNAME
        password = settings.DEMO_ADMIN_PASSWORD
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user_model.objects.create_superuser(username, "admin@example.com", password)
            self.stdout.write(f"Created demo admin. Log in as {username} / {password}")
        elif user.check_password(password):
            self.stdout.write(f"Reusing demo admin. Log in as {username} / {password}")
        else:
            self.stdout.write(f"Reusing demo admin '{username}' (its password was changed).")
