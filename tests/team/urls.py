from django.urls import path

from tests.team import views

urlpatterns = [path("stations/", views.add_station, name="team-add-station")]
