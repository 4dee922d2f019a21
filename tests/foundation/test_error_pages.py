"""A permission refusal explains itself in the admin's own look."""

import pytest

from tests.support.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_a_staff_user_without_permission_gets_an_explanatory_403_page(client):
    client.force_login(StaffFactory())
    response = client.get("/admin/batches/importjob/upload/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have permission to do this" in page
    assert 'href="/admin/"' in page
