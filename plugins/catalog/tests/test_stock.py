from decimal import Decimal

from commerce_catalog.api import get_product, stock
from commerce_catalog.models import Product


async def test_allocate_takes_stock_or_reports_shortfall(kernel):
    async with kernel.db.transaction() as session:
        p = Product(sku="A-1", name="A", description="", price=Decimal("1.00"), stock=3)
        session.add(p)
    async with kernel.db.transaction() as session:
        short = await stock(kernel).allocate(session, [(p.id, 2)])
    assert short == []
    async with kernel.db.session() as session:
        short = await stock(kernel).allocate(session, [(p.id, 2)])
        await session.rollback()
    assert short == [{"product_id": p.id, "requested": 2, "available": 1}]
    async with kernel.db.session() as session:
        assert (await get_product(session, p.id)).stock == 1
