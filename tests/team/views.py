"""A team view that enqueues work with Django's task API, inside the request's
transaction: the row it writes is committed before any worker looks for it."""

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from tests.team.models import Station
from tests.team.standard_tasks import station_name


@require_POST
def add_station(request: HttpRequest) -> JsonResponse:
    with transaction.atomic():
        station = Station.objects.create(code=request.POST["code"], name=request.POST["name"])
        result = station_name.enqueue(station.code)
    return JsonResponse({"result_id": result.id}, status=202)
