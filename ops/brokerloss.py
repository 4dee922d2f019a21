"""Noticing that Redis lost its data, so that work PostgreSQL holds is driven again.

A Redis that keeps nothing on disk loses everything when it restarts, and a failover
can lose recent writes: queued and unacknowledged messages, chord counters, overlap
locks, kombu's exchange bindings. Nothing tells a client that this happened: the
connection comes back and the keys are simply gone. So each consumer (an app that
holds work in PostgreSQL and can re-drive it) keeps a marker key: its absence means
Redis lost its data since the marker was written (or is new, which calls for the same).
"""

from __future__ import annotations

from celery import current_app

from ops import state

MARKER_PREFIX = state.PREFIX + "broker:marker:"


def broker_data_lost(*, consumer: str) -> bool:
    """True once per loss for `consumer`: the caller that finds its marker gone writes
    it again and re-drives its work; every other caller, and every later call, gets
    False. Raises redis' errors when Redis does not answer."""
    return bool(state.client().set(MARKER_PREFIX + consumer, state.now_ts(), nx=True))


def broker_data_loss_unhandled(*, consumer: str) -> None:
    """The re-drive after a loss failed (Redis went away again): drop the marker, so
    the next call reports the loss again."""
    state.client().delete(MARKER_PREFIX + consumer)


def broker_queues_declare() -> None:
    """Declare the platform's queues again, with their bindings.

    A process declares a queue once and remembers it did; after Redis lost the binding
    (`_kombu.binding.<exchange>`), kombu's Redis transport drops every message
    published to that exchange without an error, until some consumer reconnects and
    declares it. Declaring it here first makes what is re-sent next arrive.
    """
    app = current_app
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.amqp.queues.values():
            queue.bind(channel).declare()
