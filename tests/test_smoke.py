async def test_health(client):
    r = await client.get("/api/health/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


async def test_me(customer):
    r = await customer.client.get("/api/auth/me")
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "customer@example.com"
