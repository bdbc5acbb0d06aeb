"""Demo products for `commerce demo`, added only to an empty catalog."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_catalog.models import Product
from commerce_kernel import Kernel
from commerce_kernel.db import utcnow_seconds

DEMO_PRODUCTS = [
    ("TEE-RED-M", "Red T-shirt", "Organic cotton, medium.", "19.99", 40),
    ("TEE-BLUE-L", "Blue T-shirt", "Organic cotton, large.", "19.99", 25),
    ("HOODIE-GREY", "Grey hoodie", "Brushed fleece with a front pocket.", "49.00", 12),
    ("MUG-ECLAIR", "Éclair mug", "Stoneware mug with an éclair print.", "12.50", 60),
    ("CAP-BLACK", "Black cap", "Adjustable strap.", "15.00", 30),
    ("SOCKS-3PK", "Socks, 3 pack", "Merino blend, sizes 39-42.", "14.95", 100),
    ("TOTE-NAT", "Canvas tote", "Natural canvas, 10 litres.", "9.90", 80),
    ("BOTTLE-750", "Steel bottle", "Keeps drinks cold for 24 hours, 750 ml.", "24.00", 45),
    ("NOTE-A5", "A5 notebook", "Dotted pages, lay-flat binding.", "8.50", 150),
    ("PEN-GEL-BLK", "Gel pen", "Black ink, 0.5 mm.", "2.20", 500),
    ("STICKER-SET", "Sticker set", "Ten vinyl stickers.", "4.00", 0),
    ("POSTER-A2", "Straße poster", "Street map print, A2.", "18.00", 7),
]


async def add_demo_products(kernel: Kernel, session: AsyncSession) -> int:
    if (await session.execute(select(func.count()).select_from(Product))).scalar_one():
        return 0
    stamp = utcnow_seconds()
    for sku, name, description, price, stock in DEMO_PRODUCTS:
        session.add(
            Product(
                sku=sku,
                name=name,
                description=description,
                price=Decimal(price),
                stock=stock,
                sold_count=0,
                is_active=True,
                created_at=stamp,
                updated_at=stamp,
            )
        )
    await session.flush()
    return len(DEMO_PRODUCTS)
