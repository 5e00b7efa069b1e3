import pytest
from django.test import Client
from tests.conftest import PASSWORD

@pytest.mark.django_db
def test_smoke(cast):
    c = Client(); c.force_login(cast.olivia)
    for u in ["/orgs/", "/orgs/acme/", "/orgs/acme/image-access/", "/orgs/acme/exceptions/", "/orgs/acme/members/", "/orgs/acme/activity/", "/settings/tokens/", "/orgs/acme/activity/?format=csv"]:
        r = c.get(u)
        print(u, r.status_code)
        assert r.status_code == 200, r.content[:3000]
    r = c.post("/orgs/acme/image-access/", {"enabled": "on", "allow_community": "on", "allow_official": "on", "allow_verified_publisher": "on"}, follow=True)
    print([str(m) for m in r.context["messages"]])
    r = c.post("/settings/tokens/", {"name": "x", "scope": "read", "expiry": "30"})
    assert b"dckr_pat_" in r.content; print(r.headers["Cache-Control"])
    c.force_login(cast.mike)
    r = c.get("/orgs/acme/image-access/"); print(r.content.decode()[r.content.decode().index("<main"):][:3000])
