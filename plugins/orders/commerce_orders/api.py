"""The orders plugin's public API for other plugins (payments, fulfilment, reporting).

`hooks` is the orders hook specs (`order_placed`, `order_status_changed`: implement a function
named after one); `OrderData` is an order as the API answers it (its `customer` a
`CustomerData`) and `OrderWithAccount` what those hooks receive. The functions open their own
transactions and raise the same problems as the HTTP API (404 for an unknown order, 409 for a
move the life cycle does not allow).
"""

from __future__ import annotations

from commerce_orders import hookspecs as hooks
from commerce_orders.models import OrderStatus
from commerce_orders.schemas import (
    AdjustmentData,
    CustomerData,
    OrderData,
    OrderItemData,
    OrderWithAccount,
)
from commerce_orders.service import (
    TRANSITIONS,
    Placed,
    cancel_order,
    change_status,
    get_order,
    list_orders,
    place_order,
)

__all__ = [
    "TRANSITIONS",
    "AdjustmentData",
    "CustomerData",
    "OrderData",
    "OrderItemData",
    "OrderStatus",
    "OrderWithAccount",
    "Placed",
    "cancel_order",
    "change_status",
    "get_order",
    "hooks",
    "list_orders",
    "place_order",
]
