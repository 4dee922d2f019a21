"""Each Resource of the catalogue imports a file exactly as import_data() does.

One file per feature, with good rows and the bad values that feature meets; run by
import_data() and by the platform (real worker, real chord, chunks of four rows), and
compared column by column (`harness.compare`).
"""

from __future__ import annotations

import pytest

from batches import registry
from tests.conformance import resources
from tests.conformance.conftest import base_rows
from tests.conformance.harness import compare
from tests.conformance.models import Owner

pytestmark = [pytest.mark.slow]


def _owner_pk(code: str) -> int:
    return Owner._base_manager.get(code=code).pk


def gauge_file() -> str:
    o1 = _owner_pk("O1")
    return (
        "code,name,note,count,small,amount,ratio,active,day,seen_at,kind,email,url,score,owner\n"
        f"G1,renamed,,2,,2.5,,1,,,,,,,{o1}\n"
        f"G2,full,a note,12,,3.14159,1e3,yes,03/04/2024,2024-01-02 03:04:05,zz,nope,x,500,{o1}\n"
        "G3,three point seven,,3.7,,,,,,,,,,,\n"
        "G4,bad count,,abc,,1,,,,,,,,,\n"
        "G5,bad day and ratio,,1,,1,x,,2024-02-30,,,,,,\n"
        "G6,a name far too long for twenty,,1,,1,,,,,,,,,\n"
        "G7,negative small,,1,-1,1,,,,,,,,,\n"
        "G8,missing owner,,1,,1,,,,,,,,,999999\n"
        "G9,owner not a number,,1,,1,,,,,,,,,abc\n"
        "G10,abcdefghijklmnopqrst   ,,1,,1,,,,,,,,,\n"
        "G11,spaced count,, 42 ,,1e2,,True,2024-1-5,,,,,,\n"
        "G12,overflow,,1,,99999.999,,,,,,,,,\n"
        "G13,defaults,,1,,1,,,,,,,,,\n"
        "G14,big int,,99999999999,,1,,,,,,,,,\n"
        "G15,spaces,  ,1, ,1,  ,TRUE, ,,,,,,\n"
    )


COLUMNAR_LINES = [
    "owner,sku,title,price",
    'O1,S1,"a title, with a comma",1.50', 'O2,S2,"two\r\nlines",2',
    "O3,S3,tab\there,-3.25", "O1,S4,back\\slash \u00e9\u00e8,",
    "O1,S5,five,abc", "O2,S6,six,6", "O3,S7,seven,7", "O1,S8,eight,8",
    "O2,S9,,0", 'O3,S10,"say ""hi""",10', "O1,S11,\u0416\u0443\u043a,99.99",
    "O2,S12,  spaced  ,1",
    "O1,S20,twenty,1e2", "OX,S13,unknown owner,1", "O2,S14,fourteen,14", "O3,S15,fifteen,15",
    "O1,S16,sixteen,16", "O2,S17,seventeen,17", "O3,S18,eighteen,18", "O1,S19,nineteen,19",
]  # fmt: skip

FILES = {
    "plain_fields_and_model_defaults": gauge_file,
    "foreign_key_widget_and_field_defaults": lambda: (
        "code,name,count,amount,active,owner\n"
        "G1,,5,5,,O3\n"
        "G2,two,1,1,1,O1\n"
        "G3,three,1,1,0,\n"
        "G4,four,1,1,,ZZ\n"
        "G5,five,1,1,,o1\n"
        "G6,six,1,1,,O2\n"
    ),
    "custom_widgets_field_clean_readonly": lambda: (
        "code,name,count,small,amount,active,day,note,kind,label,owner__name\n"
        "G1,  lower  ,7,N/A,2.50,y,31.12.2024,x,b,whatever,ignored\n"
        "G2,two,M,1,1,n,01.01.2024,y,b,,\n"
        "G3,three,3,M,T,maybe,,z,,,\n"
        "G4,four,4,2,1.5,yes,2024-12-31,w,,,\n"
        "G5,five,n/a,3,1,,32.01.2024,v,,,\n"
        "G6,six,6,-4,1,1,01.02.2024,,,,\n"
    ),
    # Chunks of four rows: each value repeats inside its chunk, good and bad ones.
    "values_converted_once_per_chunk": lambda: (
        "code,name,count,small,amount,note,seen_at,active,day\n"
        "G1,same,M,M,abc,n,05/03/2024 14:07,yes,31.12.2024\n"
        "G2,same,M,M,abc,n,05/03/2024 14:07,yes,31.12.2024\n"
        "G3,same,7,7,99999.999,n,31/02/2024 10:00,maybe,32.01.2024\n"
        "G4,same,7,-1,99999.999,n,31/02/2024 10:00,n,01.02.2024\n"
        "G5,five,3.7,3.7,T,m,1/2/2024 9:05,,\n"
        "G6,five,3.7,n/a,1.5,m,01/02/2024  09:05,1,\n"
        "G7,seven,abc,abc,1.5,m,29/02/2024 23:59,0,\n"
        "G8,seven,abc,1,1.5,,24/01/2024 24:00,y,\n"
        "G9,nine, 8 , 8 ,2,,2024-01-02 03:04,,\n"
        "G10,nine, 8 ,8,2,,31/12/2024 00:00,,\n"
        "G11,nine,8,8,2,,31/12/2024 00:00,,\n"
    ),
    # Chunks of four rows. The first and the last are all lane values; the others
    # hold values a column lane must leave to the cells (then every row is valid or
    # one is not, which sends the chunk row by row).
    "columns_converted_whole": lambda: (
        "code,name,note,count,small,amount,ratio,seen_at\n"
        "C1,one,a note,1,2,3.50,1.5,05/03/2024 14:07\n"
        "C2,two,b,-12,0,-0.01,2,31/12/2024 23:59\n"
        "C3,three,c,0,32767,99999.99,-3.25,29/02/2024 00:00\n"
        "C4,four,d,999999999,1,0,0,01/01/2024 00:00\n"
        "C5,leading zero,x,007,05,007.5,1,05/03/2024 14:07\n"
        'C6,minus zero,"tab\there",-0,0,-0,-0,05/03/2024 14:07\n'
        "C7,plus,back\\slash,+5,+5,+5,+5,05/03/2024 14:07\n"
        'C8,ten digits,"two\nlines",2147483647,1,1,1,01/01/0001 00:00\n'
        "C9,other digits,e,\u0663,\u0663,\u0663,1,05/03/2024 14:07\n"
        "C10,no such day,f,1,1,1,1,31/02/2024 10:00\n"
        "C11,too big,g,2147483648,1,1,1,05/03/2024 14:07\n"
        "C12,hour 24,h,1,1,1,1,05/03/2024 24:00\n"
        "C13,empty note,,1,1,1,1,5/3/2024 14:07\n"
        "C14,fourteen,i,1,,1,,05/03/2024 14:07\n"
        "C15,fifteen,j,-1,-1,1,1,05/03/2024 14:07\n"
        "C16,sixteen,k,1,1,123456.789,1,05/03/2024 14:07\n"
        "C17,seventeen,l,10,11,12.25,13.5,06/03/2024 01:02\n"
        "C18,eighteen,m,20,21,22.25,23.5,07/03/2024 01:02\n"
        "C19,nineteen,n,30,31,32.25,33.5,08/03/2024 01:02\n"
        "C20,twenty,o,40,41,42.25,43.5,09/03/2024 01:02\n"
    ),
    # The compatible path: values Django gives back unchanged are written as they are,
    # the others (a str on an integer field, a field subclass) as Django prepares them.
    "values_as_django_prepares_them": lambda: (
        "code,shout,count,owner,note\n"
        "P1,quiet,12,O1,  a note  \n"
        "P2,Mixed Case,0,,\n"
        "P3,,-7,O3,x\n"
        "P4,bad count,abc,O1,y\n"
        "P5,too long!!!,1,,z\n"
        "P6,spaced, 5 ,O3,w\n"
        "P7,no count,,,v\n"
        "P8,big,2147483648,,u\n"
        "P9,0123456789,2147483647,O1,\t\n"
    ),
    "skip_unchanged_report_skipped": lambda: (
        "owner,sku,title,price\n"
        f"{_owner_pk('O1')},S1,old,1.0\n"
        f"{_owner_pk('O1')},S2,new,2\n"
        f"{_owner_pk('O3')},S1,other owner,3\n"
        f"{_owner_pk('O1')},S3,,\n"
        "999999,S4,no owner,1\n"
    ),
    "natural_key_with_a_foreign_key": lambda: (
        "owner,sku,title,price\n"
        "O1,S1,renamed,1.5\n"
        "O3,S1,same sku other owner,2\n"
        "O2,S9,inactive owner is still an owner,\n"
        "OX,S2,unknown owner,1\n"
        "O1,S2,,abc\n"
    ),
    "cached_instance_loader": lambda: "code,name\nO1,first\nO9,new\nO3,\n",
    # Windows line ends, chunks of four rows. The first, third and fifth chunks are
    # plain (read by columns, in Arrow): quoted commas, quotes, a line break, a tab
    # and a backslash inside values, other scripts, empty optional cells. The second
    # holds a bad price, the fourth an unknown owner (and a price in exponent form):
    # read row by row.
    "chunks_read_by_columns": lambda: "\r\n".join(COLUMNAR_LINES) + "\r\n",
    "row_hooks": lambda: (
        "code,name,count,amount\n"
        "G1,,3,1\n"
        "G2,  two  ,M,1\n"
        "G3,three,4,2\n"
        "G4,,abc,1\n"
        "G5,five,5,1\n"
        "G6,six,6,\n"
    ),
    "hooks_with_values_cleaned_once": lambda: (
        "code,name,count,amount,day,note\n"
        "G1,a,M,T,2024-01-02,\n"
        "G2,a,M,T,02.01.2024,eu\n"
        "G3,a,7,abc,02.01.2024,\n"
        "G4,a,seven,abc,2024-01-02,eu\n"
        "G5,b,7,1.5,2024-01-02,\n"
        "G6,b,seven,1.5,2024-01-02,\n"
        "G7,b,x,1.5,2024-01-02,eu\n"
        "G8,b,x,99999.999,2024-01-02,\n"
    ),
    # Chunks of four rows. The first and the fourth go through the hook, then the fast
    # path (a key the hook upper-cases, a name it fills from row_number, a bad count, an
    # overflowing amount); in the second the hook raises, in the third it leaves a
    # number: those take the compatible path.
    "row_hook_then_fast_path": lambda: (
        "code,name,count,amount\n"
        " g2 ,two,5,1.5\nG3,,n/a,2\ng4,four,abc,1\nG1,renamed,7,3\n"
        "G5,boom,1,1\nG6,six,6,6\nG7,seven,7,x\ng8,eight,8,8\n"
        "G9,nine,seven,9\nG10,ten,10,10\nG11,,11,11\nG12,twelve,M,1\n"
        "g13,thirteen,13,1e2\nG14, spaced  out ,14,14\nG15,fifteen,15,99999.999\nG16,,16,16\n"
    ),
    # Chunks of four rows. The first and the fourth go through the fast path, then the
    # instance hook (a note it fills, a ratio it sets on every row, `kind` on every row
    # of the fourth and on none of the first; a bad count, an overflowing amount); in
    # the second the hook raises, in the third it sets a name too long for its column,
    # in the fifth it sets `kind` on one row of two: those take the compatible path.
    "instance_hook_then_fast_path": lambda: (
        "code,name,count,amount,note\n"
        "G1,renamed,7,3,\nG2,two,n/a,1.5,given\nG3,three,abc,2,\nG4,four,4,99999.999,\n"
        "G5,boom,1,1,\nG6,six,6,6,x\nG7,seven,7,x,\nG8,eight,8,8,\n"
        "G9,long,9,9,\nG10,ten,10,10,\nG11,,11,11,\nG12,twelve,M,1,\n"
        "G13,thirteen,13,9,\nG14,fourteen,14,9,kept\nG15,fifteen,15,9,\nG16,sixteen,n/a,9,\n"
        "G17,seventeen,1,9,\nG18,eighteen,2,2,\n"
    ),
    "skip_row": lambda: (
        "owner,sku,title,price\n"
        f"{_owner_pk('O1')},S1,skip,9\n"
        f"{_owner_pk('O1')},S2,skip,9\n"
        f"{_owner_pk('O1')},S3,kept,3\n"
    ),
    "import_instance_and_import_field": lambda: (
        "code,name,count,amount\nG1,,5,5\nG2,two,2,2\nG3,,x,3\n"
    ),
    "get_or_init_instance_and_init_instance": lambda: (
        "code,name,count,amount\nG1,one,1,1\nG2,two,2,2\n"
    ),
    "clean_model_instances": lambda: (
        "code,name,count,amount,kind,email,url,score\n"
        "G1,one,1,1,b,a@example.com,https://example.com,50\n"
        "G2,two,1,1,zz,not-an-email,nope,500\n"
        "G3,,1,1,a,,,\n"
        "G4,four,abc,1,a,,,\n"
        "G5,five,5,5,,,,-1\n"
    ),
    "saves_null_values_false": lambda: (
        "code,name,count,amount,note,small\nG1,one,1,1,,\nG2,two,2,2,,\nG3,three,3,3,n,4\n"
    ),
    "many_to_many": lambda: (
        "owner,sku,title,tags\n"
        'O1,S1,tagged,"red,blue"\n'
        "O1,S2,new,green\n"
        'O1,S3,unknown tag,"pink,red"\n'
        "O3,S1,no tags,\n"
    ),
    "force_init_instance": lambda: "code,name\nO1,again\nO9,new\nO8,newer\n",
    "foreign_key_widget_get_queryset": lambda: (
        "owner,sku,title,price\nO1,S5,active owner,1\nO2,S6,inactive owner,1\n"
    ),
    "default_manager_hides_rows": lambda: "code,value\nF1,10\nF2,20\nF3,30\n",
    "skip_unchanged_with_auto_now": lambda: "code,name,count,amount\nG1,old,1,1.00\nG2,two,2,2\n",
    # Chunks of four rows, every value different: plain numbers, dates and datetimes
    # (read by the lanes), and the cells a lane hands to the widget: spaces, exponents,
    # leading zeros, "-0", overflow, single-digit days, 31 February, an empty small
    # (the field's default), other scripts' digits.
    "compatible_path_values_read_by_lanes": lambda: (
        "code,name,note,count,small,amount,day,seen_at\n"
        "G1,one,,1,1,1.50,01/02/2024,01/02/2024 03:04\n"
        "G2,two,,-2,,-2.5,29/02/2024,29/02/2024 23:59\n"
        "G3,three,n, 3 ,007,3.000,1/2/2024,1/2/2024 3:04\n"
        "G4,four,,1e2,-0,1E+1,31/02/2024,31/02/2024 10:00\n"
        "G5,five,,99999999999,70000,99999.999,2024-02-01,2024-02-01 10:00\n"
        "G6,six,,0,0,0.001,31/12/2024,31/12/2024 00:00\n"
        "G7,seven,,\u0664\u0662,12,\u0661.5,15/06/2024,15/06/2024 12:30\n"
        "G8,,,8,8,8,,\n"
        "G9,nine,,9.0,9.5,abc,00/01/2024,01/13/2024 10:00\n"
    ),
}


@pytest.mark.parametrize("case", sorted(resources.IDENTICAL))
def test_the_platform_imports_as_import_data_does(case, celery_worker, dataset):
    resource_class, path = resources.IDENTICAL[case]
    registered = dataset(case, resource_class)
    assert registered.path == path, registered.profile.explanation
    base_rows()

    job = compare(case, resource_class, FILES[case](), setup=base_rows)

    assert job.finished_at is not None


def _answered(case: str, step: str, dataset, monkeypatch) -> list[bool]:
    """Compare `case`, recording for each chunk whether `chunks.<step>` took it (its
    answer was not None) or handed it to the next reader."""
    from batches.services import chunks

    answers = []
    original = getattr(chunks, step)

    def counted(*args, **kwargs):
        answer = original(*args, **kwargs)
        answers.append(answer is not None)
        return answer

    monkeypatch.setattr(chunks, step, counted)
    resource_class, _ = resources.IDENTICAL[case]
    dataset(case, resource_class)
    base_rows()
    compare(case, resource_class, FILES[case](), setup=base_rows)
    return answers


def test_the_columnar_case_is_read_by_columns_where_it_can(celery_worker, dataset, monkeypatch):
    answers = _answered("chunks_read_by_columns", "columnar_rows", dataset, monkeypatch)

    assert True in answers, answers
    assert False in answers, answers


def test_the_row_hook_case_takes_the_fast_path_where_it_can(celery_worker, dataset, monkeypatch):
    answers = _answered("row_hook_then_fast_path", "_rows_after_hook", dataset, monkeypatch)

    assert sorted(answers) == [False, False, True, True], answers


def test_the_instance_hook_case_takes_the_fast_path_where_it_can(
    celery_worker, dataset, monkeypatch
):
    answers = _answered("instance_hook_then_fast_path", "_rows_after_hook", dataset, monkeypatch)

    assert sorted(answers) == [False, False, False, True, True], answers


def test_every_catalogue_case_has_a_file():
    assert set(FILES) == set(resources.IDENTICAL)


def test_the_path_and_its_reason_are_named(dataset):
    hooked = dataset("hooked", resources.HookedGaugeResource)
    plain = dataset("plain", resources.GaugeResource)

    assert hooked.profile.explanation.startswith("compatible path: ")
    assert "before_import_row() is overridden" in hooked.profile.explanation
    assert plain.profile.explanation.startswith("fast path")
    assert registry.get("plain") is plain


@pytest.mark.parametrize(
    "case",
    [
        "row_hooks", "many_to_many", "clean_model_instances", "row_hook_then_fast_path",
        "instance_hook_then_fast_path",
    ],
)  # fmt: skip
def test_a_chunk_taken_in_several_batches_imports_the_same(
    case, celery_worker, dataset, monkeypatch
):
    from batches import compatible, rowhooks

    monkeypatch.setattr(compatible, "BATCH_ROWS", 2)
    monkeypatch.setattr(rowhooks, "SLICE_ROWS", 3)
    resource_class, _ = resources.IDENTICAL[case]
    dataset(case, resource_class)
    base_rows()

    compare(case, resource_class, FILES[case](), setup=base_rows)


@pytest.mark.parametrize(
    "case",
    [
        "row_hooks", "plain_fields_and_model_defaults", "row_hook_then_fast_path",
        "instance_hook_then_fast_path",
    ],
)  # fmt: skip
def test_all_or_nothing_writes_nothing_when_import_data_would_roll_back(
    case, celery_worker, dataset
):
    """import_data(use_transactions=True, rollback_on_validation_errors=True): nothing
    stays if a row fails; the platform's all-or-nothing mode writes nothing either."""
    import tablib

    from batches.models import ImportJob
    from batches.services.uploads import job_queue
    from tests.conformance.harness import audit, reset, table
    from tests.support.imports import make_job, wait_for_finish

    resource_class, _ = resources.IDENTICAL[case]
    dataset(case, resource_class)
    base_rows()
    reset(base_rows)
    before = table(resources.Gauge, ["code"])
    result = resource_class().import_data(
        tablib.Dataset().load(FILES[case](), format="csv"),
        use_transactions=True, rollback_on_validation_errors=True,
    )  # fmt: skip
    assert result.has_errors() or result.has_validation_errors()
    assert table(resources.Gauge, ["code"]) == before

    job = make_job(case, FILES[case](), mode=ImportJob.Mode.ALL_OR_NOTHING)
    job_queue(job_id=job.id)
    job = wait_for_finish(job.id)

    assert job.status == ImportJob.Status.FAILED
    assert table(resources.Gauge, ["code"]) == before
    assert not audit()  # the hooks' writes of the validate phase were rolled back


def test_all_or_nothing_of_a_good_file_runs_the_hooks_writes_once(celery_worker, dataset):
    from batches.models import ImportJob
    from batches.services.uploads import job_queue
    from tests.conformance.harness import audit, oracle, reset, table
    from tests.support.imports import make_job, wait_for_finish

    text = "code,name,count,amount\n" + "".join(f"K{n},k{n},{n},{n}.5\n" for n in range(9))
    dataset("hooked", resources.HookedGaugeResource)
    base_rows()
    reset(base_rows)
    expected = oracle(resources.HookedGaugeResource, text)
    reset(base_rows)

    job = make_job("hooked", text, mode=ImportJob.Mode.ALL_OR_NOTHING)
    job_queue(job_id=job.id)
    job = wait_for_finish(job.id)

    assert (job.status, job.rows_new) == (ImportJob.Status.SUCCEEDED, 9)
    assert table(resources.Gauge, ["code"]) == expected.rows
    assert audit() == expected.audit  # each hook ran once for real (the dry run rolled back)


_GERMAN = (
    "code,name,count,amount{extra}\n"
    'G1,one,1.500,1.500{a}\nG2,two,2,"1,5"{b}\nG3,three,3,1.5{c}\nG4,four,4,-1.250{a}\n'
    'G5,five,"1.000.000","1.234,50"{b}\nG6,six,6,12.50{c}\n'
)


@pytest.mark.parametrize(
    ("case", "resource_class", "path", "text"),
    [
        # ratio is a FloatField: its lane reads "1.500" as 1.5 in English.
        ("german_numbers_fast", resources.GaugeResource, "fast",
         _GERMAN.format(extra=",ratio", a=",1.500", b=",\"2,25\"", c=",0.125")),
        ("german_numbers_compatible", resources.LaneValuesResource, "compatible",
         _GERMAN.format(extra="", a="", b="", c="")),
    ],
)  # fmt: skip
def test_numbers_in_a_language_whose_thousands_separator_is_a_dot(
    case, resource_class, path, text, celery_worker, dataset, settings
):
    """German with thousands separators: import_data() reads "1.500" as 1500 and "1,5"
    as 1.5; so must both paths (their number shortcuts step aside)."""
    settings.LANGUAGE_CODE = "de"
    settings.USE_THOUSAND_SEPARATOR = True
    assert dataset(case, resource_class).path == path
    base_rows()

    compare(case, resource_class, text, setup=base_rows)
