"""Stage 3: expand the spec into orders and collection preps against the reference data.

Planning is pure: no database, no I/O. It resolves every customer to its
fulfilment location, draws the seeded choices, allocates orders to preps and
checks each against the rules of a valid SeedConfig, reporting every problem
at the place in the spec that caused it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from seedcompile.checks import LoadedSpec
from seedcompile.diagnose import suggest
from seedcompile.errors import Diagnostic, ReferenceDataError
from seedcompile.feasibility import check_feasibility
from seedcompile.load import SpecPath
from seedcompile.randomness import RuleRandom
from seedcompile.reference import Carrier, Location, ReferenceData
from seedcompile.spec import Line, OrderGroup, OrderStatus, PrepGroup

log = logging.getLogger("seedcompile.plan")

OrderLines = tuple[tuple[str, int], ...]
_Row = TypeVar("_Row", Carrier, Location)


@dataclass(slots=True)
class PlannedOrder:
    ref: str
    customer: str
    location: str
    status: OrderStatus
    lines: OrderLines
    group: int  # position of its order group in the spec
    index: int  # its index inside the group


@dataclass(slots=True)
class PlannedPrep:
    group: int  # position of its prep group in the spec
    index: int  # its index among the group's preps at its location
    location: str
    carrier: str
    date: dt.date
    orders: list[int]  # positions in Plan.orders
    code: str = ""


@dataclass(slots=True)
class Plan:
    orders: list[PlannedOrder]
    preps: list[PlannedPrep]


def plan(
    loaded: LoadedSpec, reference: ReferenceData, *, preview: bool = False
) -> Plan:
    """Expand the spec; raise `ReferenceDataError` listing every problem.

    A `preview` lists stock shortages instead of failing on them, so it skips
    the stock part of the feasibility proof.
    """
    planner = Planner(loaded, reference)
    # Every name the spec uses is checked first, so that one run reports all
    # unknown SKUs, customers, carriers and locations, whatever else fails.
    planner.check_named_lines()
    planner.check_named_carriers()
    planner.check_named_locations()
    # Prove the spec can be met before spending time and memory on it.
    check_feasibility(planner, stock=not preview)
    if planner.problems:
        raise ReferenceDataError(planner.problems)
    orders = planner.expand_orders()
    preps = planner.allocate(orders) if not planner.problems else []
    if planner.problems:
        raise ReferenceDataError(planner.problems)
    log.info("planned %d orders and %d collection preps", len(orders), len(preps))
    return Plan(orders=orders, preps=preps)


class Planner:
    """Expands one spec against its reference rows, collecting every problem."""

    def __init__(self, loaded: LoadedSpec, reference: ReferenceData) -> None:
        self.spec = loaded.spec
        self.source = loaded.source
        self.ref = reference
        self.problems: list[Diagnostic] = []
        self._reported: set[tuple[SpecPath, str, str]] = set()
        self._checked_skus: set[tuple[SpecPath, str]] = set()
        self._serving_cache: dict[str, list[str]] = {}
        # Each order group's customers, and for random picks the pool index
        # drawn for each order, once the feasibility pass has resolved them
        self.pools: dict[int, list[str]] = {}
        self.random_picks: dict[int, list[int]] = {}
        # Round robin: the fulfilment location of each pool position
        self.pool_locations: dict[int, list[str | None]] = {}
        self._location_caches: dict[SpecPath, _LocationOf] = {}

    # -- reporting ---------------------------------------------------------

    def error(
        self,
        path: SpecPath,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        subject: str | None = None,
    ) -> None:
        # One mistake, one message: the same problem at the same place (a SKU
        # of a template used by many groups, say) is reported once.
        if (path, code, message) in self._reported:
            return
        self._reported.add((path, code, message))
        self.problems.append(
            Diagnostic(code, message, self.source.position(path), hint, subject)
        )

    def spelled(self, *candidates: SpecPath) -> SpecPath:
        """The first of several ways a value may be written that the file has."""
        for path in candidates:
            if path in self.source.spans:
                return path
        return candidates[-1]

    # -- orders ------------------------------------------------------------

    def expand_orders(self) -> list[PlannedOrder]:
        orders: list[PlannedOrder] = []
        for g, group in enumerate(self.spec.orders):
            orders.extend(self._expand_group(g, group))
        return orders

    def _expand_group(self, g: int, group: OrderGroup) -> list[PlannedOrder]:
        here: SpecPath = ("orders", g)
        pool = self.pools.get(g) or self.customer_pool(g, group)
        base_lines = self.base_lines(g, group)
        if pool is None or base_lines is None:
            return []
        status = self._status(group)
        # `launch-0042`: the group's name and the order's index, zero-padded
        name = group.name.replace("%", "%%")
        ref_format = f"{name}-%0{max(4, len(str(group.count - 1)))}d"
        rng = RuleRandom(self.spec.seed, "orders", group.name)
        override_rng = RuleRandom(self.spec.seed, "orders", group.name, "overrides")
        random_pick = group.pick == "random"
        n = len(pool)
        # Pool positions drawn for random picks; round robin needs none.
        drawn = (
            self.random_picks.get(g) or rng.firsts(group.count, n)
            if random_pick
            else None
        )
        # Each pool position's fulfilment location, looked up on first use.
        locations = self.pool_locations.get(g) or [_UNKNOWN] * n
        location_of = self.location_cache(here)
        # Values one order draws: its customer (random picks), then one per
        # line. A block holds eight; most orders need no second.
        lines_of = _LineDraw(base_lines, start=int(random_pick))
        wanted = 0 if lines_of.fixed is not None else int(random_pick) + len(base_lines)
        excluded = set(group.exclude)
        overrides = group.overrides

        orders: list[PlannedOrder] = []
        append = orders.append
        for index in range(group.count):
            if excluded and index in excluded:
                continue
            position = drawn[index] if drawn is not None else index % n
            customer = pool[position]
            location = locations[position]
            if location is _UNKNOWN:
                location = locations[position] = location_of(customer)
            if lines_of.fixed is not None:
                lines = lines_of.fixed
            elif wanted <= 8:
                lines = lines_of(rng.block(index))
            else:
                lines = lines_of(rng.values(index, wanted))
            order_status = status
            override = overrides.get(index) if overrides else None
            if override is not None:
                opath = (*here, "overrides", index)
                if override.customer is not None:
                    customer = override.customer
                    if not self._check_customer(customer, (*opath, "customer")):
                        continue
                    location = location_of(customer)
                if override.lines is not None:
                    self._check_lines(override.lines, (*opath, "lines"))
                    draw = _LineDraw(override.lines, start=0)
                    lines = draw.fixed or draw(
                        override_rng.values(index, len(override.lines))
                    )
                order_status = override.status or order_status
            if location is None:
                continue
            append(
                PlannedOrder(
                    ref_format % index,
                    customer,
                    location,
                    order_status,
                    lines,
                    g,
                    index,
                )
            )
        return orders

    def _status(self, group: OrderGroup) -> OrderStatus:
        if group.status is not None:
            return group.status
        if group.duplicate is not None:
            return group.duplicate.status
        if group.template is not None and group.template in self.spec.templates:
            return self.spec.templates[group.template].status
        return "pending"

    def base_lines(self, g: int, group: OrderGroup) -> Sequence[Line] | None:
        if group.duplicate is not None:
            path: SpecPath = ("orders", g, "duplicate", "lines")
            lines: Sequence[Line] | None = group.duplicate.lines
        elif group.lines is not None:
            path, lines = ("orders", g, "lines"), group.lines
        else:
            name = group.template or ""
            path = ("templates", name, "lines")
            template = self.spec.templates.get(name)
            lines = template.lines if template is not None else None
        if lines is not None and not self._check_lines(lines, path):
            return None
        return lines

    def _check_lines(self, lines: Sequence[Line], path: SpecPath) -> bool:
        ok = True
        for n, line in enumerate(lines):
            where = (*path, n, "sku")
            if (where, line.sku) in self._checked_skus:
                continue
            self._checked_skus.add((where, line.sku))
            variant = self.ref.variants.get(line.sku)
            if variant is None:
                self.error(
                    where,
                    "reference.unknown-sku",
                    f"no SKU {line.sku!r} in the reference data",
                    subject=line.sku,
                )
                ok = False
            elif not variant.active:
                self.error(
                    where,
                    "reference.inactive-sku",
                    f"SKU {line.sku!r} is not active",
                    hint="choose an active SKU",
                )
                ok = False
        return ok

    def customer_pool(self, g: int, group: OrderGroup) -> list[str] | None:
        here: SpecPath = ("orders", g)
        if group.duplicate is not None:
            code = group.duplicate.customer
            ok = self._check_customer(code, (*here, "duplicate", "customer"))
            return [code] if ok else None
        selection = group.customers
        if selection is None:
            return None
        path: SpecPath = (*here, "customers")
        if selection.codes is not None:
            ok = True
            for n, code in enumerate(selection.codes):
                where = self.spelled((*path, "codes", n), (*path, n))
                ok = self._check_customer(code, where) and ok
            return list(selection.codes) if ok else None
        if selection.all:
            regions = None
        else:
            regions = [selection.region] if selection.region else []
            regions += selection.regions or []
            for n, region in enumerate(regions):
                where = (*path, "region") if selection.region else (*path, "regions", n)
                if region not in self.ref.regions:
                    near = suggest(region, self.ref.regions)
                    self.error(
                        where,
                        "reference.unknown-region",
                        f"no region {region!r} in the reference data",
                        hint=f"did you mean `{near}`?" if near else None,
                    )
                    return None
        pool = self.ref.active_customers_in(regions)
        if not pool:
            self.error(
                path,
                "reference.no-customers",
                "the selection matches no active customer",
            )
            return None
        return pool

    def _check_customer(self, code: str, path: SpecPath) -> bool:
        customer = self.ref.customers.get(code)
        if customer is None:
            self.error(
                path,
                "reference.unknown-customer",
                f"no customer {code!r} in the reference data",
                subject=code,
            )
            return False
        if not customer.active:
            self.error(
                path,
                "reference.inactive-customer",
                f"customer {code!r} is not active",
                hint="choose an active customer",
            )
            return False
        return True

    def location_cache(self, here: SpecPath) -> _LocationOf:
        """Fulfilment locations for customers of the group at `here`, each
        looked up and checked once whichever pass asks first."""
        cache = self._location_caches.get(here)
        if cache is None:
            cache = self._location_caches[here] = _LocationOf(self, here)
        return cache

    # -- preps -------------------------------------------------------------

    def check_named_lines(self) -> None:
        """Every SKU and override customer the order groups name exists."""
        for g, group in enumerate(self.spec.orders):
            self.base_lines(g, group)
            for index, override in group.overrides.items():
                here: SpecPath = ("orders", g, "overrides", index)
                if override.lines is not None:
                    self._check_lines(override.lines, (*here, "lines"))
                if override.customer is not None:
                    self._check_customer(override.customer, (*here, "customer"))

    def check_named_locations(self) -> None:
        """Every location a prep group names exists and is active."""
        for p, group in enumerate(self.spec.collection_preps):
            if group.location is not None:
                self.check_location(group.location, ("collection_preps", p))

    def check_named_carriers(self) -> None:
        """Every carrier a rule names exists and is active, used or not.

        A misspelt carrier late in a rotation is a mistake even when the
        count never reaches it; which carrier serves which region is checked
        where a prep uses it.
        """
        for p, group in enumerate(self.spec.collection_preps):
            here: SpecPath = ("collection_preps", p)
            rule = group.carrier
            named: list[tuple[str, SpecPath]] = []
            if rule.fixed is not None:
                named.append(
                    (
                        rule.fixed,
                        self.spelled((*here, "carrier", "fixed"), (*here, "carrier")),
                    )
                )
            for n, code in enumerate(rule.rotate or ()):
                path = self.spelled(
                    (*here, "carrier", "rotate", n), (*here, "carrier", n)
                )
                named.append((code, path))
            for region, code in (rule.by_region or {}).items():
                named.append((code, (*here, "carrier", "by_region", region)))
            for k, override in group.overrides.items():
                if override.carrier is not None:
                    named.append((override.carrier, (*here, "overrides", k, "carrier")))
            for code, path in named:
                self._known_carrier(code, path)

    def _known_carrier(self, code: str, path: SpecPath) -> Carrier | None:
        return self._known("carrier", code, self.ref.carriers, path)

    def _known(
        self, kind: str, code: str, rows: Mapping[str, _Row], path: SpecPath
    ) -> _Row | None:
        """The active row named `code`, or None with the problem reported."""
        row = rows.get(code)
        if row is None:
            near = suggest(code, rows)
            self.error(
                path,
                f"reference.unknown-{kind}",
                f"no {kind} {code!r} in the reference data",
                hint=f"did you mean `{near}`?" if near else None,
            )
            return None
        if not row.active:
            self.error(
                path, f"reference.inactive-{kind}", f"{kind} {code!r} is not active"
            )
            return None
        return row

    def allocate(self, orders: list[PlannedOrder]) -> list[PlannedPrep]:
        allocated = [False] * len(orders)
        group_names = [group.name for group in self.spec.orders]
        # Positions of each order group's orders, and of those at each
        # location: a prep group then visits only the orders it may take.
        buckets: dict[tuple[int, str], list[int]] = defaultdict(list)
        for position, order in enumerate(orders):
            buckets[(order.group, order.location)].append(position)
        preps: list[PlannedPrep] = []
        for p, group in enumerate(self.spec.collection_preps):
            if group.allocate.explicit is not None:
                preps.extend(self._allocate_explicit(p, group, orders, allocated))
                continue
            wanted = set(group.orders or group_names)
            by_location: dict[str, list[int]] = defaultdict(list)
            # Order groups in spec order keep positions ascending per location.
            for (g, location), positions in sorted(buckets.items()):
                if group_names[g] not in wanted:
                    continue
                if group.location is not None and location != group.location:
                    continue
                by_location[location].extend(
                    position for position in positions if not allocated[position]
                )
            locations = sorted(loc for loc, found in by_location.items() if found)
            if group.location is not None:
                if not self.check_location(group.location, ("collection_preps", p)):
                    continue
                locations = [group.location]
            for location in locations:
                candidates = by_location.get(location, [])
                made = self._allocate_at(p, group, location, candidates)
                for prep in made:
                    for position in prep.orders:
                        allocated[position] = True
                preps.extend(made)
        return preps

    def check_location(self, code: str, here: SpecPath) -> bool:
        path = (*here, "location")
        return self._known("location", code, self.ref.locations, path) is not None

    def _allocate_at(
        self, p: int, group: PrepGroup, location: str, candidates: list[int]
    ) -> list[PlannedPrep]:
        here: SpecPath = ("collection_preps", p)
        count = group.count or 0
        preps = []
        for k in range(count):
            carrier = self.carrier_for(p, group, location, k)
            if carrier is None:
                return []
            override = group.overrides.get(k)
            date = override.date if override and override.date else group.date
            preps.append(PlannedPrep(p, k, location, carrier.code, date, []))
        capacities = [
            self.ref.carriers[prep.carrier].max_orders_per_prep for prep in preps
        ]
        if group.allocate.kind == "fill":
            if len(candidates) > sum(capacities):
                self.error(
                    (*here, "count"),
                    "allocation.over-capacity",
                    f"{len(candidates)} orders at {location} but the "
                    f"{count} preps of {group.name!r} take at most "
                    f"{sum(capacities)}",
                    hint="raise `count`, or choose carriers that take more orders",
                )
                return []
            start = 0
            for prep, capacity in zip(preps, capacities, strict=True):
                prep.orders = candidates[start : start + capacity]
                start += capacity
        else:
            for k, prep in enumerate(preps):
                prep.orders = candidates[k::count]
                if len(prep.orders) > capacities[k]:
                    self.error(
                        (*here, "count"),
                        "allocation.over-capacity",
                        f"prep {k} of {group.name!r} at {location} would hold "
                        f"{len(prep.orders)} orders but {prep.carrier} takes at "
                        f"most {capacities[k]}",
                        hint="raise `count`, or use `allocate: fill`",
                    )
                    return []
        return preps

    def _allocate_explicit(
        self,
        p: int,
        group: PrepGroup,
        orders: list[PlannedOrder],
        allocated: list[bool],
    ) -> list[PlannedPrep]:
        here: SpecPath = ("collection_preps", p)
        apath = self.spelled((*here, "allocate", "explicit"), (*here, "allocate"))
        preps = []
        for k, positions in enumerate(group.allocate.explicit or []):
            ok = True
            for n, position in enumerate(positions):
                if position >= len(orders):
                    self.error(
                        (*apath, k, n),
                        "allocation.unknown-order",
                        f"there is no order {position}: the fixture has "
                        f"{len(orders)} orders (0 to {len(orders) - 1})",
                    )
                    ok = False
                elif allocated[position]:
                    self.error(
                        (*apath, k, n),
                        "allocation.order-twice",
                        f"order {position} ({orders[position].ref}) is already "
                        "in a collection prep",
                        hint="an order belongs to at most one prep",
                    )
                    ok = False
                else:
                    allocated[position] = True
            if not ok:
                continue
            locations = sorted({orders[i].location for i in positions})
            location = group.location or locations[0]
            if locations != [location]:
                self.error(
                    (*apath, k),
                    "allocation.mixed-locations",
                    f"prep {k} holds orders fulfilled at {', '.join(locations)}; "
                    f"all orders of a prep must be at {location}",
                )
                continue
            carrier = self.carrier_for(p, group, location, k)
            if carrier is None:
                continue
            if len(positions) > carrier.max_orders_per_prep:
                self.error(
                    (*apath, k),
                    "allocation.over-capacity",
                    f"prep {k} holds {len(positions)} orders but {carrier.code} "
                    f"takes at most {carrier.max_orders_per_prep}",
                )
                continue
            override = group.overrides.get(k)
            date = override.date if override and override.date else group.date
            preps.append(
                PlannedPrep(p, k, location, carrier.code, date, list(positions))
            )
        return preps

    def carrier_for(
        self, p: int, group: PrepGroup, location: str, k: int
    ) -> Carrier | None:
        here: SpecPath = ("collection_preps", p)
        rule = group.carrier
        region = self.ref.locations[location].region
        override = group.overrides.get(k)
        if override is not None and override.carrier is not None:
            code, path = override.carrier, (*here, "overrides", k, "carrier")
        elif rule.fixed is not None:
            code = rule.fixed
            path = self.spelled((*here, "carrier", "fixed"), (*here, "carrier"))
        elif rule.rotate is not None:
            n = k % len(rule.rotate)
            code = rule.rotate[n]
            path = self.spelled((*here, "carrier", "rotate", n), (*here, "carrier", n))
        elif rule.by_region is not None:
            if region not in rule.by_region:
                self.error(
                    (*here, "carrier", "by_region"),
                    "allocation.no-carrier-for-region",
                    f"by_region names no carrier for {region}, the region of "
                    f"{location}",
                    hint=f"add `{region}: CARRIER`",
                )
                return None
            code = rule.by_region[region]
            path = (*here, "carrier", "by_region", region)
        else:
            serving = self._serving(region)
            if not serving:
                self.error(
                    (*here, "carrier"),
                    "allocation.no-carrier-for-region",
                    f"no active carrier serves {region}, the region of {location}",
                )
                return None
            return self.ref.carriers[serving[k % len(serving)]]
        return self._check_carrier(code, region, location, path)

    def _serving(self, region: str) -> list[str]:
        """Codes of the active carriers that serve `region`, in code order."""
        if region not in self._serving_cache:
            self._serving_cache[region] = sorted(
                c.code
                for c in self.ref.carriers.values()
                if c.active and region in c.regions
            )
        return self._serving_cache[region]

    def _check_carrier(
        self, code: str, region: str, location: str, path: SpecPath
    ) -> Carrier | None:
        carrier = self._known_carrier(code, path)
        if carrier is None:
            return None
        if region not in carrier.regions:
            serving = self._serving(region)
            self.error(
                path,
                "allocation.carrier-region",
                f"carrier {code} does not serve {region}, the region of {location}",
                hint="carriers serving it: " + ", ".join(serving) if serving else None,
            )
            return None
        return carrier


class _LocationOf:
    """Each customer's fulfilment location, checked once per customer."""

    def __init__(self, planner: Planner, here: SpecPath) -> None:
        self.planner = planner
        self.here = here
        self.cache: dict[str, str | None] = {}

    def __call__(self, code: str) -> str | None:
        if code in self.cache:
            return self.cache[code]
        ref = self.planner.ref
        customer = ref.customers.get(code)
        if customer is None:
            # An override naming a customer that does not exist: reported
            # where the spec names it (`check_named_lines`); no location.
            self.cache[code] = None
            return None
        location = ref.fulfilment_location(customer)
        result: str | None = location
        if location is None:
            self.planner.error(
                self.here,
                "reference.no-location",
                f"customer {code} has no home location and region "
                f"{customer.region} has no primary location",
            )
            result = None
        elif location not in ref.locations or not ref.locations[location].active:
            self.planner.error(
                self.here,
                "reference.inactive-location",
                f"customer {code} is fulfilled at {location}, which is not active",
            )
            result = None
        self.cache[code] = result
        return result

    def many(self, codes: Sequence[str]) -> list[str | None]:
        """The location of each customer in `codes`, in order.

        The common case, an active customer at an active location, is
        resolved here in one loop; anything else goes through `__call__`,
        which reports it.
        """
        ref = self.planner.ref
        customers = ref.customers
        fulfilment_location = ref.fulfilment_location
        usable = {code for code, row in ref.locations.items() if row.active}
        found: list[str | None] = []
        for code in codes:
            location = fulfilment_location(customers[code])
            found.append(location if location in usable else self(code))
        return found


class _LineDraw:
    """An order's lines from the spec's lines and the order's drawn values.

    Line `n` takes its quantity from `values[start + n]` (a fixed quantity
    ignores it). Orders that draw the same quantities share one tuple of
    lines, so a template with small ranges yields a handful of tuples for any
    number of orders, and later stages see each distinct tuple once.
    """

    __slots__ = ("_drawn", "_lines", "_ranged", "fixed")

    def __init__(self, lines: Sequence[Line], *, start: int) -> None:
        self._lines = [(line.sku, line.quantity) for line in lines]
        # (position in values, number of choices) of each line with a range
        self._ranged = [
            (start + n, line.quantity.max - line.quantity.min + 1)
            for n, line in enumerate(lines)
            if not line.quantity.is_fixed
        ]
        self._drawn: dict[tuple[int, ...], OrderLines] = {}
        # The lines themselves when no quantity is a range
        self.fixed: OrderLines | None = (
            None
            if self._ranged
            else tuple((sku, quantity.min) for sku, quantity in self._lines)
        )

    def __call__(self, values: Sequence[int]) -> OrderLines:
        offsets = tuple([values[i] % span for i, span in self._ranged])
        lines = self._drawn.get(offsets)
        if lines is None:
            lines = self._drawn[offsets] = self._build(offsets)
        return lines

    def _build(self, offsets: tuple[int, ...]) -> OrderLines:
        drawn = iter(offsets)
        return tuple(
            (sku, quantity.min if quantity.is_fixed else quantity.min + next(drawn))
            for sku, quantity in self._lines
        )


_UNKNOWN = "\x00unknown"
