"""Proving a spec can be met before any order is built.

A spec of a million orders can take seconds to expand; when it cannot be
met, the user should hear why at once, with numbers. This pass counts orders
per location without building them (round robin by arithmetic, random picks
by drawing the same numbers the planner will draw), then checks what those
counts decide:

- `pick: distinct` has as many customers as orders;
- every prep group has carriers that serve its locations, and preps enough
  to hold its orders there;
- no group of prep codes would number past 9999;
- under `inventory: check`, the stock covers the least the orders can need
  (every quantity at its minimum).

What it cannot prove here (explicit allocations, shares between prep groups
that draw on the same orders) the planner still checks in full.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from seedcompile.codes import MAX_PREP_NUMBER, format_code
from seedcompile.load import SpecPath
from seedcompile.randomness import RuleRandom
from seedcompile.reference import Carrier, PrepGroupKey
from seedcompile.spec import OrderGroup
from seedcompile.stock import NAMED_ORDERS

if TYPE_CHECKING:
    from seedcompile.plan import Planner


def check_feasibility(planner: Planner, *, stock: bool = True) -> None:
    """Report, through `planner.error`, every way the spec cannot be met."""
    counts = _orders_per_location(planner)
    if planner.problems:
        return
    _check_preps(planner, counts)
    if stock and planner.spec.inventory == "check":
        _check_least_demand(planner, counts)


# Orders of each order group at each location: group index -> location -> n
LocationCounts = dict[int, Counter[str]]


def _orders_per_location(planner: Planner) -> LocationCounts:
    counts: LocationCounts = {}
    for g, group in enumerate(planner.spec.orders):
        pool = planner.customer_pool(g, group)
        if pool is None:
            continue
        planner.pools[g] = pool
        if group.pick == "distinct":
            wanted = group.count - len(set(group.exclude))
            if wanted > len(pool):
                planner.error(
                    ("orders", g, "pick"),
                    "feasibility.distinct-customers",
                    f"{wanted} orders for distinct customers, but the selection "
                    f"has only {len(pool)} active customers",
                    hint="lower `count`, widen `customers`, or pick round_robin",
                )
                continue
        counts[g] = _count_at_locations(planner, g, group, pool)
    return counts


def _count_at_locations(
    planner: Planner, g: int, group: OrderGroup, pool: list[str]
) -> Counter[str]:
    """How many orders of the group each location gets."""
    location_of = planner.location_cache(("orders", g))
    excluded = set(group.exclude)
    n = len(pool)
    here: Counter[str | None] = Counter()
    if group.pick == "random":
        # The planner reuses these draws instead of hashing each order again.
        rng = RuleRandom(planner.spec.seed, "orders", group.name)
        drawn = planner.random_picks[g] = rng.firsts(group.count, n)
        chosen = Counter(drawn)
        for index in excluded:
            chosen[drawn[index]] -= 1
        for position, k in chosen.items():
            if k:
                here[location_of(pool[position])] += k

        def position_of(index: int) -> int:
            return drawn[index]
    else:
        # Round robin by arithmetic: every customer gets `rounds` orders and
        # the first `rest` one more. Each customer's location is looked up
        # once and kept for the planner.
        locations = planner.pool_locations[g] = location_of.many(pool)
        rounds, rest = divmod(group.count, n)
        if rounds:
            for location, k in Counter(locations).items():
                here[location] += k * rounds
        here.update(locations[:rest])
        for index in excluded:
            here[locations[index % n]] -= 1

        def position_of(index: int) -> int:
            return index % n

    for index, override in group.overrides.items():
        if override.customer is not None and index not in excluded:
            here[location_of(pool[position_of(index)])] -= 1
            here[location_of(override.customer)] += 1
    # Customers without a usable location are reported already; their
    # orders are never built. A location left with no order (all moved
    # away by overrides) needs nothing there.
    return Counter({location: k for location, k in here.items() if location and k > 0})


def _check_preps(planner: Planner, counts: LocationCounts) -> None:
    spec = planner.spec
    names = [group.name for group in spec.orders]
    # Groups of prep codes: how many new preps each (location, carrier, date)
    # would get, and the first spec path that asks for them.
    new_codes: Counter[PrepGroupKey] = Counter()
    asked_by: dict[PrepGroupKey, SpecPath] = {}
    claimed: set[int] = set()  # order groups an earlier prep group draws on

    for p, group in enumerate(spec.collection_preps):
        here: SpecPath = ("collection_preps", p)
        if group.allocate.explicit is not None:
            continue  # an explicit list is checked in full by the planner
        drawn = [g for g, name in enumerate(names) if name in (group.orders or names)]
        shared = bool(claimed.intersection(drawn))
        claimed.update(drawn)
        at: Counter[str] = Counter()
        for g in drawn:
            at.update(counts.get(g, Counter()))
        locations = sorted(loc for loc, n in at.items() if n > 0)
        if group.location is not None:
            if not planner.check_location(group.location, here):
                continue
            locations = [group.location]
        count = group.count or 0
        for location in locations:
            carriers = [
                planner.carrier_for(p, group, location, k) for k in range(count)
            ]
            if any(carrier is None for carrier in carriers):
                return  # the carrier problem is reported; counts would mislead
            for k, carrier in enumerate(carriers):
                assert carrier is not None
                override = group.overrides.get(k)
                date = override.date if override and override.date else group.date
                key = (location, carrier.code, date)
                new_codes[key] += 1
                asked_by.setdefault(key, here)
            if not shared:
                _check_capacity(
                    planner, p, location, at[location], [c for c in carriers if c]
                )

    for key, wanted in sorted(new_codes.items()):
        start = planner.ref.highest_prep_number.get(key, 0)
        if start + wanted > MAX_PREP_NUMBER:
            prefix = format_code(key, 0)[:-5]
            planner.error(
                asked_by[key],
                "feasibility.code-overflow",
                f"{wanted} new preps for {prefix} would number past "
                f"{MAX_PREP_NUMBER} (codes up to {start:04d} exist)",
                hint="spread the preps over more dates or carriers",
            )


def _check_capacity(
    planner: Planner, p: int, location: str, orders: int, carriers: list[Carrier]
) -> None:
    """The messages are the planner's own: the same problem, found sooner."""
    group = planner.spec.collection_preps[p]
    where: SpecPath = ("collection_preps", p, "count")
    capacities = [carrier.max_orders_per_prep for carrier in carriers]
    total = sum(capacities)
    if orders > total:
        planner.error(
            where,
            "allocation.over-capacity",
            f"{orders} orders at {location} but the {len(capacities)} preps of "
            f"{group.name!r} take at most {total}",
            hint=f"raise `count` to at least {_preps_needed(orders, capacities)}, "
            "or choose carriers that take more orders",
        )
    elif group.allocate.kind == "round_robin" and carriers:
        count = len(carriers)
        for k, carrier in enumerate(carriers):
            share = orders // count + (1 if k < orders % count else 0)
            if share > carrier.max_orders_per_prep:
                planner.error(
                    where,
                    "allocation.over-capacity",
                    f"prep {k} of {group.name!r} at {location} would hold "
                    f"{share} orders but {carrier.code} takes at most "
                    f"{carrier.max_orders_per_prep}",
                    hint="raise `count`, or use `allocate: fill`",
                )
                return


def _preps_needed(orders: int, capacities: list[int]) -> int:
    """Preps needed at the group's average capacity per prep."""
    average = max(1, sum(capacities) // max(1, len(capacities)))
    return -(-orders // average)


def _check_least_demand(planner: Planner, counts: LocationCounts) -> None:
    """Under `check`: stock must cover every quantity at its minimum.

    Overridden lines are left out of the sum, so the bound stays a bound.
    With fixed quantities the bound is the demand itself, and the message is
    the one the stock stage would give, orders named.
    """
    spec, ref = planner.spec, planner.ref
    least: dict[tuple[str, str], int] = defaultdict(int)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    exact = True
    for g, group in enumerate(spec.orders):
        lines = planner.base_lines(g, group) or ()
        exact &= all(line.quantity.is_fixed for line in lines)
        exact &= not any(o.lines for o in group.overrides.values())
        for location, n in counts.get(g, Counter()).items():
            for line in lines:
                for part, per_unit in ref.bill_of_materials.get(line.sku, ()):
                    key = (location, part)
                    least[key] += n * line.quantity.min * per_unit
                    if g not in groups[key]:
                        groups[key].append(g)
    for (location, part), units in sorted(least.items()):
        available = ref.available.get((location, part), 0)
        if units <= available:
            continue
        orders_there = sum(counts[g][location] for g in groups[(location, part)])
        refs = _first_refs(planner, groups[(location, part)], location, orders_there)
        need = "need" if exact else "need at least"
        planner.error(
            ("orders", groups[(location, part)][0]),
            "stock.shortage",
            f"not enough {part} at {location}: the orders {need} {units}, "
            f"{available} available; needed by {refs}",
            hint="use `inventory: ensure` to emit the stock adjustments, or order less",
        )


def _first_refs(planner: Planner, groups: list[int], location: str, total: int) -> str:
    """The refs of the first few of the `total` orders at `location`.

    The scan stops once it has named enough: the total is already counted.
    """
    named: list[str] = []
    for g in groups:
        if len(named) >= NAMED_ORDERS:
            break
        group = planner.spec.orders[g]
        pool = planner.pools[g]
        location_of = planner.location_cache(("orders", g))
        rng = RuleRandom(planner.spec.seed, "orders", group.name)
        width = max(4, len(str(group.count - 1)))
        excluded = set(group.exclude)
        for index in range(group.count):
            if index in excluded:
                continue
            customer = _customer_at(group, pool, rng, index)
            if location_of(customer) == location:
                named.append(f"{group.name}-{index:0{width}d}")
                if len(named) >= NAMED_ORDERS:
                    break
    more = f" and {total - len(named)} more" if total > len(named) else ""
    return ", ".join(named) + more


def _customer_at(
    group: OrderGroup, pool: list[str], rng: RuleRandom, index: int
) -> str:
    override = group.overrides.get(index)
    if override is not None and override.customer is not None:
        return override.customer
    if group.pick == "random":
        return pool[rng.block(index)[0] % len(pool)]
    return pool[index % len(pool)]
