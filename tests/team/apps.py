from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "tests.team"
    label = "team"
    verbose_name = "Team (test-only app)"
