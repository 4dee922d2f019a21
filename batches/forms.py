from __future__ import annotations

from django import forms
from django.conf import settings

from batches import registry
from batches.filekinds import read_head
from batches.models import ImportJob
from batches.services.uploads import ImportRejected, upload_check

DELIMITERS = [
    ("", "detect"),
    (",", "comma ,"),
    (";", "semicolon ;"),
    ("\t", "tab"),
    ("|", "pipe |"),
]


class UploadForm(forms.Form):
    dataset = forms.ChoiceField()
    file = forms.FileField(help_text="A CSV file with a header row.")
    mode = forms.ChoiceField(choices=ImportJob.Mode.choices, initial=ImportJob.Mode.VALID_ROWS)
    encoding = forms.CharField(
        required=False,
        initial="utf-8",
        help_text=(
            "utf-8 (with or without BOM), latin-1, cp1252…; UTF-16/32 files with a BOM "
            "(Excel's Unicode Text) are detected, and converted to UTF-8 when stored"
        ),
    )
    delimiter = forms.ChoiceField(choices=DELIMITERS, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(d.name, d.label) for d in registry.all_datasets()]
        limit_mib = settings.IMPORT_MAX_UPLOAD_BYTES / 1024 / 1024
        self.fields[
            "file"
        ].help_text = f"A CSV file with a header row, at most {limit_mib:,.0f} MiB."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            upload_check(
                name=upload.name,
                size=upload.size,
                head=read_head(upload),
                encoding=self.data.get("encoding", ""),
            )
        except ImportRejected as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload
