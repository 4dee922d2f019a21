"""Claims keyed by the key's text instead of a 64-bit hash of it.

Claims live only while an import runs. This migration drops the claim table and
creates it anew: upgrade with no import running (an import running across it could
miss a key repeated in a chunk written before and one written after).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0004_importjob_dispatch_due"),
    ]

    operations = [
        migrations.DeleteModel(name="ImportKey"),
        migrations.CreateModel(
            name="ImportKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "job", "key", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("key", models.TextField(db_collation="C")),
                ("row_number", models.BigIntegerField()),
                (
                    "job",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="batches.importjob",
                    ),
                ),
            ],
        ),
    ]
