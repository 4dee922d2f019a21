"""The conformance suite: a team's Resources imported by import_data() and by the platform.

A test-only app (label `conformance`) with models that exercise each import-time feature
of django-import-export 4.x, a catalogue of Resources (`resources.py`), and tests that
import the same files both ways and compare every column of the resulting rows and the
rejected rows (`harness.py`), or check that a Resource the platform cannot run is
refused at registration.
"""
