from common.commands import PlatformCommand
from ops.conditions import RED, platform_status
from ops.services import ops_checks_run


class Command(PlatformCommand):
    help = (
        "Print each queue's state, beat, workers and open conditions; exit 1 when anything "
        "is red (for cron and container health checks)."
    )
    exit_codes = {
        0: "every queue, beat and the workers are green or amber",
        1: "something is red (the table says what), for cron and container health checks",
    }

    def add_arguments(self, parser):
        parser.add_argument(
            "--record",
            action="store_true",
            help="also open and resolve alerts, like the checks loop does",
        )

    def handle(self, *args, **options):
        status = platform_status()
        if options["record"]:
            ops_checks_run(status=status)
        self.stdout.write(render_status(status))
        if status.state == RED:
            raise SystemExit(1)


def _fmt(value, unit="", digits=1):
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def render_status(status) -> str:
    lines = [f"ops status at {status.checked_at:%Y-%m-%d %H:%M:%S %Z}: {status.state.upper()}", ""]
    header = (
        f"{'queue':<10} {'state':<6} {'last hb':>9} {'latency':>9} {'depth':>7} {'workers':>7}  why"
    )
    lines += [header, "-" * len(header)]
    for queue in status.queues:
        workers = "?" if queue.consumers is None else str(len(queue.consumers))
        lines.append(
            f"{queue.name:<10} {queue.state.upper():<6} {_fmt(queue.heartbeat_age, 's', 0):>9} "
            f"{_fmt(queue.latency, 's', 2):>9} {'-' if queue.depth is None else queue.depth:>7} "
            f"{workers:>7}  {'; '.join(queue.reasons) or 'ok'}"
        )
    beat = status.beat
    lines += [
        "",
        "beat: "
        + ("OK" if beat["ok"] else "RED")
        + (f", last tick {beat['age']:.0f}s ago" if beat["age"] is not None else ", never ticked"),
    ]
    if status.workers is None:
        lines.append("workers: unknown (Redis could not be read)")
    else:
        lines.append(f"workers alive: {len(status.workers)}")
        lines += [
            f"  {host}: {', '.join(queues)}" for host, queues in sorted(status.workers.items())
        ]
    if status.conditions:
        lines += ["", "conditions:"]
        lines += [
            f"  {severity.upper():<5} {kind} {subject}: {message}"
            for (kind, subject), (severity, message) in sorted(status.conditions.items())
        ]
    lines += [f"error: {error}" for error in status.errors]
    return "\n".join(lines) + "\n"
