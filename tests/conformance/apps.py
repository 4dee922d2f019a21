from django.apps import AppConfig


class ConformanceConfig(AppConfig):
    name = "tests.conformance"
    label = "conformance"
    verbose_name = "Conformance (test-only app)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from tests.conformance.models import Signalled, signalled_saved

        # A team's post_save receiver: the platform's bulk writes would skip it.
        post_save.connect(signalled_saved, sender=Signalled)
