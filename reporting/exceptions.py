class ReportSendFailed(Exception):
    """The SMTP server did not accept the message; safe to try again."""
