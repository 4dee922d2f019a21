from reporting.models import ReportDefinition


def definition_deleted(sender, instance: ReportDefinition, **kwargs) -> None:
    # Also covers bulk deletes from the admin's changelist and deletes in a shell.
    from reporting.services import report_definition_schedule_remove

    report_definition_schedule_remove(definition=instance)
