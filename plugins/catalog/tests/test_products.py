"""Products CRUD, auth, validation and the product hooks."""

from commerce_catalog.models import Product

from commerce_kernel import hookimpl, hookspecs


def product(**over):
    body = {
        "sku": "tee-red-m",
        "name": "Red T-shirt",
        "description": "Organic cotton",
        "price": "19.99",
        "stock": 5,
    }
    body.update(over)
    return body


async def test_admin_creates_product_and_anyone_reads_it(admin_client, client, kernel):
    r = await admin_client.post("/api/products/", json=product())
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {
        "id",
        "sku",
        "name",
        "description",
        "price",
        "currency",
        "stock",
        "sold_count",
        "is_active",
        "created_at",
        "updated_at",
    }
    assert created["sku"] == "TEE-RED-M"
    assert created["price"] == "19.99"
    assert created["currency"] == kernel.settings.currency
    assert created["sold_count"] == 0 and created["is_active"] is True
    assert created["created_at"].endswith("Z")
    r = await client.get(f"/api/products/{created['id']}/")
    assert r.status_code == 200
    assert r.json() == created
    r = await client.get(f"/api/products/{created['id']}")
    assert r.status_code == 200


async def test_price_keeps_decimal_digits(admin_client):
    r = await admin_client.post("/api/products/", json=product(price="10"))
    assert r.json()["price"] == "10.00"


async def test_customer_write_is_403_and_anonymous_401(customer_client, client, admin_client):
    r = await customer_client.post("/api/products/", json=product())
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/api/products/", json=product())
    assert r.status_code == 401
    pid = (await admin_client.post("/api/products/", json=product())).json()["id"]
    for method in ("put", "patch"):
        r = await getattr(customer_client, method)(f"/api/products/{pid}/", json=product())
        assert r.status_code == 403
        r = await getattr(client, method)(f"/api/products/{pid}/", json=product())
        assert r.status_code == 401
    assert (await customer_client.delete(f"/api/products/{pid}/")).status_code == 403
    assert (await client.delete(f"/api/products/{pid}/")).status_code == 401


async def test_duplicate_sku_is_409_case_insensitively(admin_client):
    assert (await admin_client.post("/api/products/", json=product())).status_code == 201
    r = await admin_client.post("/api/products/", json=product(sku="  TEE-red-M "))
    assert r.status_code == 409
    assert r.json()["status"] == 409


async def test_changing_sku_to_a_taken_one_is_409(admin_client):
    await admin_client.post("/api/products/", json=product(sku="A"))
    pid = (await admin_client.post("/api/products/", json=product(sku="B"))).json()["id"]
    r = await admin_client.patch(f"/api/products/{pid}/", json={"sku": "a"})
    assert r.status_code == 409


async def test_money_with_more_digits_than_currency_is_422(admin_client):
    r = await admin_client.post("/api/products/", json=product(price="1.001"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "price"]
    r = await admin_client.post("/api/products/", json=product(price="-1.00"))
    assert r.status_code == 422
    r = await admin_client.post("/api/products/", json=product(price="abc"))
    assert r.status_code == 422


async def test_validation_rules(admin_client):
    cases = [
        product(sku="  "),
        product(sku="X" * 65),
        product(name=" "),
        product(stock=-1),
        product(stock=1.5),
        product(stock=True),
        {"sku": "A", "price": "1.00"},
    ]
    for body in cases:
        r = await admin_client.post("/api/products/", json=body)
        assert r.status_code == 422, body
    r = await admin_client.post("/api/products/", content=b"{not json")
    assert r.status_code == 400


async def test_put_replaces_and_needs_every_field(admin_client):
    pid = (await admin_client.post("/api/products/", json=product())).json()["id"]
    r = await admin_client.put(f"/api/products/{pid}/", json={"name": "x"})
    assert r.status_code == 422
    body = product(
        sku="tee-red-l", name="Red T-shirt L", description="", price="21.00", stock=3
    ) | {"is_active": True}
    r = await admin_client.put(f"/api/products/{pid}/", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["sku"], out["name"], out["description"], out["price"], out["stock"]) == (
        "TEE-RED-L",
        "Red T-shirt L",
        "",
        "21.00",
        3,
    )
    # A GET representation sent back as PUT body works (read-only fields are ignored).
    r = await admin_client.put(f"/api/products/{pid}/", json=out)
    assert r.status_code == 200
    assert r.json() == out


async def test_patch_changes_only_given_fields(admin_client):
    created = (await admin_client.post("/api/products/", json=product())).json()
    r = await admin_client.patch(f"/api/products/{created['id']}/", json={"stock": 9})
    assert r.status_code == 200
    assert r.json() == created | {"stock": 9, "updated_at": r.json()["updated_at"]}
    r = await admin_client.patch(f"/api/products/{created['id']}/", json={"name": None})
    assert r.status_code == 422
    r = await admin_client.patch(f"/api/products/{created['id']}/", json={"price": "1.234"})
    assert r.status_code == 422
    assert (await admin_client.patch("/api/products/999999/", json={"stock": 1})).status_code == 404


async def test_delete_retires_and_hides_from_non_admins(
    admin_client, client, customer_client, kernel
):
    pid = (await admin_client.post("/api/products/", json=product())).json()["id"]
    r = await admin_client.delete(f"/api/products/{pid}/")
    assert r.status_code == 204
    assert (await client.get(f"/api/products/{pid}/")).status_code == 404
    assert (await customer_client.get(f"/api/products/{pid}/")).status_code == 404
    r = await admin_client.get(f"/api/products/{pid}/")
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/api/products/")).json()["count"] == 0
    assert (await admin_client.get("/api/products/")).json()["count"] == 1
    async with kernel.db.session() as session:
        assert (await session.get(Product, pid)) is not None
    assert (await admin_client.delete(f"/api/products/{pid}/")).status_code == 204
    assert (await admin_client.delete("/api/products/999999/")).status_code == 404


async def test_unknown_product_is_404(client):
    r = await client.get("/api/products/424242/")
    assert r.status_code == 404


async def test_bad_token_on_public_read_is_401(client):
    r = await client.get("/api/products/", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_hooks_fire_after_commit(admin_client, listen):
    seen = []

    class Listener:
        @hookimpl
        async def product_created(self, kernel, product):
            seen.append(("created", product["sku"]))

        @hookimpl
        async def product_updated(self, kernel, product, changed):
            seen.append(("updated", product["sku"], changed))

        @hookimpl
        async def product_retired(self, kernel, product):
            seen.append(("retired", product["sku"], product["is_active"]))

    listen(Listener())
    pid = (await admin_client.post("/api/products/", json=product())).json()["id"]
    await admin_client.patch(f"/api/products/{pid}/", json={"stock": 1, "name": "Red T-shirt"})
    await admin_client.delete(f"/api/products/{pid}/")
    assert seen == [
        ("created", "TEE-RED-M"),
        ("updated", "TEE-RED-M", ["stock"]),
        ("retired", "TEE-RED-M", False),
    ]


async def test_openapi_documents_catalog_endpoints(client):
    doc = (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/api/products/"]) == {"get", "post"}
    assert set(paths["/api/products/{id}/"]) == {"get", "put", "patch", "delete"}
    upload = paths["/api/products/bulk_upload/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "413" in upload["responses"]
    assert "409" in paths["/api/products/"]["post"]["responses"]


async def test_demo_data_fills_an_empty_catalog_once(kernel, client):
    for _ in range(2):
        async with kernel.db.transaction() as session:
            await kernel.hooks.call(hookspecs.demo_data, kernel=kernel, session=session)
    r = await client.get("/api/products/?page_size=100")
    assert r.json()["count"] == 12


async def test_a_price_is_a_decimal_string_and_unknown_fields_are_refused(admin_client):
    base = {"sku": "STRICT-1", "name": "Strict", "price": "9.99"}
    number = await admin_client.post("/api/products/", json={**base, "price": 9.99})
    assert number.status_code == 422
    [error] = number.json()["errors"]
    assert error["loc"] == ["body", "price"] and "decimal string" in error["msg"]
    typo = await admin_client.post("/api/products/", json={**base, "prise": "1.00"})
    assert typo.status_code == 422 and typo.json()["errors"][0]["loc"] == ["body", "prise"]
    created = await admin_client.post("/api/products/", json=base)
    assert created.status_code == 201
    # What a GET answered can be sent back as it is: read-only fields are dropped.
    product = created.json()
    replaced = await admin_client.put(
        f"/api/products/{product['id']}/", json={**product, "name": "Stricter"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "Stricter"


async def test_an_id_past_64_bits_is_404_not_500(admin_client, client):
    huge = "/api/products/99999999999999999999999/"
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        r = await admin_client.request(method, huge, **kwargs)
        assert r.status_code == 404, (method, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get(huge)).status_code == 404
    assert (await client.get(f"/api/products/{2**63 - 1}/")).status_code == 404


async def test_the_lean_reads_send_what_the_product_model_would(admin_client, client, kernel):
    """Detail and list build their JSON straight from rows (no ORM, no model): each product
    they send equals `ProductOut`'s JSON dump of the same product loaded through the ORM."""
    from commerce_catalog.service import to_out
    from sqlalchemy import select

    made = [
        (await admin_client.post("/api/products/", json=product(sku=f"lean-{i}", **over))).json()
        for i, over in enumerate(
            [
                {"price": "0.10", "stock": 0},
                {"price": "499.99", "description": "", "name": "Ünïcode ☃ name"},
                {"price": "7", "is_active": False},
            ]
        )
    ]
    ids = [p["id"] for p in made]
    async with kernel.db.session() as session:
        loaded = (await session.execute(select(Product).where(Product.id.in_(ids)))).scalars()
        expected = {
            p.id: to_out(p, kernel.settings.currency).model_dump(mode="json") for p in loaded
        }
    assert expected == {p["id"]: p for p in made}  # and the create's answer, model-built
    for pid in ids:
        r = await admin_client.get(f"/api/products/{pid}/")
        assert r.json() == expected[pid]
    listed = (await admin_client.get("/api/products/", params={"search": "lean"})).json()
    assert {p["id"]: p for p in listed["results"]} == expected
    public = (await client.get("/api/products/", params={"search": "lean"})).json()
    assert [p["id"] for p in public["results"]] == ids[:2]  # the inactive one hidden
    assert (await client.get(f"/api/products/{ids[2]}/")).status_code == 404
