"""Stage 1b: the spec language, version 1, as pydantic models.

The models check the shape of a spec: which keys exist, what type each value
has, which forms a rule may take. Rules that relate one part of a spec to
another (a template that must exist, an index that must be in range) are
checked by `seedcompile.checks`, which can point at the exact key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

SPEC_VERSION = 1
# Refused before any memory is spent on them; raise with care.
MAX_GROUP_COUNT = 10_000_000
MAX_QUANTITY = 1_000_000

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$"),
]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Count = Annotated[int, Field(ge=1, le=MAX_GROUP_COUNT)]
Index = Annotated[int, Field(ge=0, le=MAX_GROUP_COUNT)]
OrderStatus = Literal["pending", "confirmed", "packed", "shipped", "cancelled"]
InventoryPolicy = Literal["check", "ensure", "ignore"]
Pick = Literal["round_robin", "random", "distinct"]


def _parse_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            # The value goes into the message itself: pydantic's templates
            # know no `!r`.
            raise PydanticCustomError(
                "date_form", f"expected a date written YYYY-MM-DD, got {value!r}"
            ) from None
    return value


PrepDate = Annotated[dt.date, BeforeValidator(_parse_date)]


def _found(model: BaseModel) -> str:
    """`(found `a`, `b`)`: the keys a one-of-several-forms rule was given."""
    keys = ", ".join(f"`{key}`" for key in sorted(model.model_fields_set))
    return f" (found {keys})" if keys else " (found none)"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class QuantityRange(_Model):
    """A quantity: a fixed number, or drawn from `min` to `max` inclusive."""

    min: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    max: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"min": value, "max": value}
        if isinstance(value, dict):
            return value
        raise PydanticCustomError(
            "quantity_form",
            "a quantity is a whole number or a range `{min: 1, max: 3}`",
        )

    @model_validator(mode="after")
    def _ordered(self) -> QuantityRange:
        if self.min > self.max:
            raise PydanticCustomError(
                "quantity_range",
                "the range's min ({min}) is above its max ({max})",
                {"min": self.min, "max": self.max},
            )
        return self

    @property
    def is_fixed(self) -> bool:
        return self.min == self.max


class Line(_Model):
    """One order line: a SKU and how many units."""

    sku: Code
    quantity: QuantityRange = QuantityRange(min=1, max=1)


Lines = Annotated[list[Line], Field(min_length=1, max_length=1000)]


class Template(_Model):
    """A named order shape that order groups build from."""

    lines: Lines
    status: OrderStatus = "pending"


class CustomerSelection(_Model):
    """Which customers an order group draws from: exactly one of the forms."""

    codes: Annotated[list[Code], Field(min_length=1)] | None = None
    region: Code | None = None
    regions: Annotated[list[Code], Field(min_length=1)] | None = None
    all: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"codes": value}
        if value == "all":
            return {"all": True}
        if isinstance(value, dict):
            return value
        raise PydanticCustomError(
            "customers_form",
            "customers are a list of customer codes, `{region: CODE}`, "
            "`{regions: [CODE, ...]}` or `all`",
        )

    @model_validator(mode="after")
    def _one_form(self) -> CustomerSelection:
        given = [self.codes, self.region, self.regions, self.all]
        if sum(value is not None for value in given) != 1:
            raise PydanticCustomError(
                "customers_form",
                "give exactly one of `codes`, `region`, `regions` or `all`"
                + _found(self),
            )
        return self


class OrderOverride(_Model):
    """Changes to one order of a group, by its index in the group."""

    customer: Code | None = None
    lines: Lines | None = None
    status: OrderStatus | None = None


class DuplicateOrder(_Model):
    """One explicit order, repeated `count` times."""

    customer: Code
    lines: Lines
    status: OrderStatus = "pending"


class OrderGroup(_Model):
    """`count` orders from a template, inline lines, or a duplicated order."""

    name: Name
    count: Count
    template: Name | None = None
    lines: Lines | None = None
    status: OrderStatus | None = None
    customers: CustomerSelection | None = None
    pick: Pick = "round_robin"
    duplicate: DuplicateOrder | None = None
    overrides: dict[Index, OrderOverride] = Field(default_factory=dict)
    exclude: list[Index] = Field(default_factory=list)


class CarrierRule(_Model):
    """How a prep's carrier is chosen: exactly one of the forms."""

    fixed: Code | None = None
    rotate: Annotated[list[Code], Field(min_length=1)] | None = None
    by_region: Annotated[dict[Code, Code], Field(min_length=1)] | None = None
    any: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        if value == "any":
            return {"any": True}
        if isinstance(value, str):
            return {"fixed": value}
        if isinstance(value, list):
            return {"rotate": value}
        if isinstance(value, dict):
            return value
        raise PydanticCustomError(
            "carrier_form",
            "a carrier rule is a carrier code, `any`, a list to rotate through, "
            "`{rotate: [...]}` or `{by_region: {REGION: CARRIER}}`",
        )

    @model_validator(mode="after")
    def _one_form(self) -> CarrierRule:
        given = [self.fixed, self.rotate, self.by_region, self.any]
        if sum(value is not None for value in given) != 1:
            raise PydanticCustomError(
                "carrier_form",
                "give exactly one of `fixed`, `rotate`, `by_region` or `any`"
                + _found(self),
            )
        return self

    def named_carriers(self) -> list[str]:
        """Every carrier code the rule names."""
        if self.fixed is not None:
            return [self.fixed]
        if self.rotate is not None:
            return list(self.rotate)
        if self.by_region is not None:
            return list(self.by_region.values())
        return []


class Allocation(_Model):
    """How orders are spread over a group's preps."""

    kind: Literal["round_robin", "fill", "explicit"]
    explicit: list[Annotated[list[Index], Field(min_length=1)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        if value in ("round_robin", "fill"):
            return {"kind": value}
        if isinstance(value, dict) and set(value) == {"explicit"}:
            return {"kind": "explicit", "explicit": value["explicit"]}
        raise PydanticCustomError(
            "allocation_form",
            "an allocation is `round_robin`, `fill` or "
            "`{explicit: [[order indices of prep 0], ...]}`",
        )


class PrepOverride(_Model):
    """Changes to one prep of a group, by its index in the group."""

    carrier: Code | None = None
    date: PrepDate | None = None


class PrepGroup(_Model):
    """`count` collection preps per location, and how orders fill them."""

    name: Name
    count: Count | None = None
    location: Code | None = None
    orders: Annotated[list[Name], Field(min_length=1)] | None = None
    carrier: CarrierRule
    date: PrepDate
    allocate: Allocation = Field(
        default_factory=lambda: Allocation.model_validate("round_robin")
    )
    overrides: dict[Index, PrepOverride] = Field(default_factory=dict)


class Spec(_Model):
    """A whole spec file."""

    version: Literal[1]
    description: str | None = None
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    inventory: InventoryPolicy = "check"
    templates: dict[Name, Template] = Field(default_factory=dict)
    orders: Annotated[list[OrderGroup], Field(min_length=1)]
    collection_preps: list[PrepGroup] = Field(default_factory=list)
