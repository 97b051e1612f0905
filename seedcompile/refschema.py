"""The reference schema of the order-fulfilment database, as SQLAlchemy Core.

The compiler only ever reads these tables; `seedcompile refdata init` creates
them and fills them with the demo dataset.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

region = sa.Table(
    "region",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)

location = sa.Table(
    "location",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column(
        "region_code", sa.String(32), sa.ForeignKey("region.code"), nullable=False
    ),
    sa.Column("active", sa.Boolean, nullable=False),
    # Exactly one primary location per region: where customers without a home
    # location are fulfilled.
    sa.Column("is_primary", sa.Boolean, nullable=False),
)

customer = sa.Table(
    "customer",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column(
        "region_code",
        sa.String(32),
        sa.ForeignKey("region.code"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "home_location_code",
        sa.String(32),
        sa.ForeignKey("location.code"),
        nullable=True,
    ),
    sa.Column("active", sa.Boolean, nullable=False),
)

carrier = sa.Table(
    "carrier",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    # The most orders this carrier takes in one collection prep.
    sa.Column("max_orders_per_prep", sa.Integer, nullable=False),
)

carrier_region = sa.Table(
    "carrier_region",
    metadata,
    sa.Column(
        "carrier_code", sa.String(32), sa.ForeignKey("carrier.code"), primary_key=True
    ),
    sa.Column(
        "region_code", sa.String(32), sa.ForeignKey("region.code"), primary_key=True
    ),
)

variant = sa.Table(
    "variant",
    metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

part = sa.Table(
    "part",
    metadata,
    sa.Column("part_number", sa.String(64), primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
)

variant_part = sa.Table(
    "variant_part",
    metadata,
    sa.Column("sku", sa.String(64), sa.ForeignKey("variant.sku"), primary_key=True),
    sa.Column(
        "part_number",
        sa.String(64),
        sa.ForeignKey("part.part_number"),
        primary_key=True,
    ),
    # Units of the part consumed by one unit of the variant.
    sa.Column("quantity", sa.Integer, nullable=False),
)

inventory = sa.Table(
    "inventory",
    metadata,
    sa.Column(
        "location_code",
        sa.String(32),
        sa.ForeignKey("location.code"),
        primary_key=True,
    ),
    sa.Column(
        "part_number",
        sa.String(64),
        sa.ForeignKey("part.part_number"),
        primary_key=True,
    ),
    sa.Column("on_hand", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
)

collection_prep = sa.Table(
    "collection_prep",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column(
        "location_code", sa.String(32), sa.ForeignKey("location.code"), nullable=False
    ),
    sa.Column(
        "carrier_code", sa.String(32), sa.ForeignKey("carrier.code"), nullable=False
    ),
    sa.Column("prep_date", sa.Date, nullable=False),
    sa.Index("ix_collection_prep_group", "location_code", "carrier_code", "prep_date"),
)
