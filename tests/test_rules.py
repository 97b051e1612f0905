"""Every rule of a valid SeedConfig, each fed an input that breaks it."""

from __future__ import annotations

import textwrap

import anyio
import pytest

from seedcompile.errors import ReferenceDataError
from seedcompile.seedconfig import SEEDCONFIG, check_rules
from tests.support import build_demo, compile_text, loaded_from_text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("rules") / "demo.db"
    return build_demo(f"sqlite:///{path}")


def spec(body: str) -> str:
    return "version: 1\n" + textwrap.dedent(body)


def failure(text: str, url: str) -> ReferenceDataError:
    with pytest.raises(ReferenceDataError) as caught:
        compile_text(text, url)
    return caught.value


ORDERS = """
orders:
  - name: eu
    count: {count}
    customers: {{region: EU-WEST}}
    lines: [{{sku: {sku}}}]
"""


def orders(count: int = 4, sku: str = "TSHIRT-RED-M") -> str:
    return ORDERS.format(count=count, sku=sku)


def preps(**fields: object) -> str:
    """One collection-prep group `p` for 2026-12-10 with the given fields."""
    lines = "".join(f"    {key}: {value}\n" for key, value in fields.items())
    return f"collection_preps:\n  - name: p\n{lines}    date: 2026-12-10\n"


def test_unknown_sku_is_refused_where_the_spec_names_it(demo: str) -> None:
    error = failure(spec(orders(sku="TSHRT-RED-M")), demo)
    [problem] = error.diagnostics
    assert problem.code == "reference.unknown-sku"
    assert "TSHRT-RED-M" in problem.message
    assert (problem.position.line, problem.position.path) == (
        7,
        "orders[0].lines[0].sku",
    )


def test_inactive_sku_is_refused(demo: str) -> None:
    [problem] = failure(spec(orders(sku="TSHIRT-GREEN-M")), demo).diagnostics
    assert problem.code == "reference.inactive-sku"
    assert problem.message == "SKU 'TSHIRT-GREEN-M' is not active"


def test_unknown_and_inactive_customers_are_all_reported(demo: str) -> None:
    text = spec(
        """
        orders:
          - name: few
            count: 2
            customers: [C-000017, C-999999]
            lines: [{sku: MUG-WHITE}]
        """
    )
    problems = failure(text, demo).diagnostics
    assert [(p.code, p.position.path) for p in problems] == [
        ("reference.inactive-customer", "orders[0].customers[0]"),
        ("reference.unknown-customer", "orders[0].customers[1]"),
    ]
    assert problems[0].message == "customer 'C-000017' is not active"


def test_inactive_carrier_is_refused(demo: str) -> None:
    text = spec(orders() + preps(count=1, location="NYC1", carrier="PONYEXP"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "reference.inactive-carrier"
    assert problem.position.path == "collection_preps[0].carrier"


def test_inactive_location_is_refused(demo: str) -> None:
    text = spec(orders() + preps(count=1, location="DUB1", carrier="DHL"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "reference.inactive-location"
    assert problem.message == "location 'DUB1' is not active"


def test_carrier_must_serve_the_region_of_the_location(demo: str) -> None:
    text = spec(orders() + preps(count=1, carrier="FEDEX"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "allocation.carrier-region"
    assert problem.message == (
        "carrier FEDEX does not serve EU-WEST, the region of LON1"
    )
    assert problem.hint == "carriers serving it: DHL, DPD, ROYALMAIL, UPS"


def test_a_prep_holds_no_more_orders_than_its_carrier_takes(demo: str) -> None:
    text = spec(orders(count=60) + preps(count=1, location="LON1", carrier="ROYALMAIL"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "allocation.over-capacity"
    # 60 orders, of which those of customers without a home location are at
    # LON1: 40 of them, over ROYALMAIL's 25. Found before any order is built.
    assert problem.message == "40 orders at LON1 but the 1 preps of 'p' take at most 25"
    assert problem.hint == (
        "raise `count` to at least 2, or choose carriers that take more orders"
    )


def test_round_robin_must_fit_every_prep(demo: str) -> None:
    # 37 of the 56 active EU-WEST customers ship from LON1; 90 orders round
    # robin put 59 there, dealt over DHL (50) and ROYALMAIL (25): 30 and 29.
    text = spec(
        orders(count=90) + preps(count=2, location="LON1", carrier="[DHL, ROYALMAIL]")
    )
    [problem] = failure(text, demo).diagnostics
    assert problem.message == (
        "prep 1 of 'p' at LON1 would hold 29 orders but ROYALMAIL takes at most 25"
    )


def test_fill_reports_the_total_capacity(demo: str) -> None:
    text = spec(
        orders(count=60)
        + preps(count=1, location="LON1", carrier="ROYALMAIL", allocate="fill")
    )
    [problem] = failure(text, demo).diagnostics
    assert problem.message == (
        "40 orders at LON1 but the 1 preps of 'p' take at most 25"
    )


def test_an_order_belongs_to_at_most_one_prep(demo: str) -> None:
    text = spec(orders() + preps(carrier="DHL", allocate="{explicit: [[0, 1], [1]]}"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "allocation.order-twice"
    assert problem.position.path == "collection_preps[0].allocate.explicit[1][0]"
    assert problem.message.startswith("order 1 (eu-0001) is already")


def test_all_orders_of_a_prep_share_its_location(demo: str) -> None:
    # Orders 0 and 2 are C-000001 (LON1) and C-000009 (home MAN1).
    text = spec(orders() + preps(carrier="DHL", allocate="{explicit: [[0, 2]]}"))
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "allocation.mixed-locations"
    assert "LON1, MAN1" in problem.message


def test_new_codes_number_on_from_existing_ones(demo: str) -> None:
    text = spec(orders() + preps(count=2, location="LON1", carrier="DHL"))
    codes = [p["code"] for p in compile_text(text, demo)["collection_preps"]]
    assert codes == ["LON1-DHL-20261210-0004", "LON1-DHL-20261210-0005"]


def test_stock_shortage_lists_location_part_and_orders(demo: str) -> None:
    # MAN1 has 5 grey hoodie L blanks, 2 reserved. The active EU-WEST
    # customers are C-000001, 5, 9, 13, 21, 25, 29, 33 (17 is inactive); 9, 21
    # and 33 live at MAN1, and each of their orders asks for 2 hoodies.
    text = spec(
        """
        orders:
          - name: hoodies
            count: 8
            customers: {region: EU-WEST}
            lines: [{sku: HOODIE-GREY-L, quantity: 2}]
        """
    )
    [problem] = failure(text, demo).diagnostics
    assert problem.code == "stock.shortage"
    assert problem.message == (
        "not enough BLANK-HOODIE-GREY-L at MAN1: the orders need 6, 3 available; "
        "needed by hoodies-0002, hoodies-0004, hoodies-0007"
    )
    assert problem.position.path == "orders[0]"


def test_every_shortage_is_listed_in_one_error(demo: str) -> None:
    text = spec(
        """
        orders:
          - name: mugs
            count: 12
            customers: {region: EU-CENTRAL}
            lines: [{sku: MUG-BLACK}, {sku: HOODIE-GREY-L, quantity: 2000}]
        """
    )
    problems = failure(text, demo).diagnostics
    short = sorted(p.message.split(":")[0] for p in problems)
    assert short == [
        "not enough BLANK-HOODIE-GREY-L at FRA1",
        "not enough BLANK-HOODIE-GREY-L at WAW1",
        "not enough BLANK-MUG-BLACK at WAW1",
        "not enough BOX-LARGE at FRA1",
        "not enough BOX-LARGE at WAW1",
        "not enough INK-CMYK at FRA1",
    ]


def test_ensure_emits_the_adjustments_instead(demo: str) -> None:
    text = spec(
        """
        inventory: ensure
        orders:
          - name: hoodies
            count: 8
            customers: {region: EU-WEST}
            lines: [{sku: HOODIE-GREY-L, quantity: 2}]
        """
    )
    assert compile_text(text, demo)["stock_adjustments"] == [
        {"location": "MAN1", "part": "BLANK-HOODIE-GREY-L", "quantity": 3}
    ]


# -- the independent check of a finished SeedConfig ---------------------------


@pytest.fixture(scope="module")
def good(demo: str) -> tuple[dict[str, object], object]:
    from seedcompile.database import DatabaseSettings, create_engine, read_snapshot
    from seedcompile.reference import prefetch, request_for

    text = spec(orders() + preps(count=1, carrier="DHL"))
    loaded = loaded_from_text(text)

    async def fetch() -> object:
        engine = create_engine(DatabaseSettings(url=demo))
        async with read_snapshot(engine) as conn:
            reference = await prefetch(conn, request_for(loaded.spec))
        await engine.dispose()
        return reference

    return compile_text(text, demo), anyio.run(fetch)


def broken_rules(config: dict[str, object], reference: object) -> list[str]:
    return check_rules(
        SEEDCONFIG.validate_python(config),
        reference,  # type: ignore[arg-type]
        taken_codes={"LON1-DHL-20261210-0001"},
    )


def test_a_compiled_config_breaks_no_rule(good: tuple[dict, object]) -> None:
    config, reference = good
    assert broken_rules(config, reference) == []


PREP = "LON1-DHL-20261210-0004"
TOO_MANY = [f"x{i}" for i in range(60)]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda c: c["orders"][0].update(customer="C-000017"),
            ["order eu-0000: customer C-000017 not active"],
        ),
        (
            lambda c: c["orders"][0]["lines"][0].update(sku="TSHIRT-GREEN-M"),
            ["order eu-0000: SKU TSHIRT-GREEN-M not active"],
        ),
        (  # the copy holds the same orders as the first
            lambda c: c["collection_preps"].append(dict(c["collection_preps"][0])),
            [
                f"prep code {PREP} appears twice",
                "order eu-0000 is in two preps",
                "order eu-0001 is in two preps",
                "order eu-0003 is in two preps",
            ],
        ),
        (
            lambda c: c["collection_preps"][0].update(code="LON1-DHL-20261210-0001"),
            ["prep code LON1-DHL-20261210-0001 exists in the reference data"],
        ),
        (
            lambda c: c["collection_preps"][0].update(carrier="FEDEX"),
            [f"prep {PREP}: carrier does not serve its region"],
        ),
        (  # eu-0002 is at MAN1, and in its own prep there
            lambda c: c["collection_preps"][0]["orders"].append("eu-0002"),
            [
                f"prep {PREP}: order eu-0002 is elsewhere",
                "order eu-0002 is in two preps",
            ],
        ),
        (  # refs of no order: each is also elsewhere
            lambda c: c["collection_preps"][0]["orders"].extend(TOO_MANY),
            [f"prep {PREP}: over its carrier's capacity"]
            + [f"prep {PREP}: order {ref} is elsewhere" for ref in TOO_MANY],
        ),
        (
            lambda c: c["orders"][0]["lines"][0].update(quantity=5000),
            ["demand for BLANK-TEE-RED-M at LON1 exceeds what is available"],
        ),
    ],
)
def test_check_rules_catches_a_broken_config(
    good: tuple[dict, object], tamper: object, expected: list[str]
) -> None:
    import copy

    config, reference = good
    config = copy.deepcopy(config)
    tamper(config)  # type: ignore[operator]
    assert broken_rules(config, reference) == expected


def test_a_later_prep_group_skips_locations_left_without_orders(demo: str) -> None:
    # The first group takes every LON1 order; the second, drawing on the same
    # orders, makes preps only where orders are left (MAN1), none at LON1.
    text = spec(
        orders(count=10)
        + """
collection_preps:
  - name: first
    count: 1
    location: LON1
    carrier: DHL
    date: 2026-12-10
  - name: rest
    count: 2
    carrier: DHL
    date: 2026-12-11
"""
    )
    preps = compile_text(text, demo)["collection_preps"]
    assert [(p["location"], p["rule"], len(p["orders"])) for p in preps] == [
        ("LON1", "first#0", 7),
        ("MAN1", "rest#0", 2),
        ("MAN1", "rest#1", 1),
    ]


def test_one_run_reports_an_unknown_customer_and_an_unknown_sku(demo: str) -> None:
    text = spec(
        """
        orders:
          - name: x
            count: 2
            customers: [C-999999, C-000001]
            lines: [{sku: TSHIRT-BLU-M}]
        """
    )
    problems = failure(text, demo).diagnostics
    assert [(p.code, p.hint) for p in problems] == [
        ("reference.unknown-customer", None),  # nothing close enough
        ("reference.unknown-sku", "closest: `TSHIRT-BLUE-M`"),
    ]


def test_one_run_reports_an_unknown_customer_and_an_unknown_prep_location(
    demo: str,
) -> None:
    # The prep location was only looked at once the orders could be counted,
    # so it surfaced after the customer was fixed.
    text = spec(orders().replace("{region: EU-WEST}", "[C-999999]"))
    text += preps(count=1, carrier="DHL", location="LON2")
    problems = failure(text, demo).diagnostics
    assert [(p.code, p.position.line, p.message) for p in problems] == [
        (
            "reference.unknown-customer",
            6,
            "no customer 'C-999999' in the reference data",
        ),
        ("reference.unknown-location", 12, "no location 'LON2' in the reference data"),
    ]


# -- the column check agrees with the order-by-order walk ----------------------
#
# A compile checks an assembled document whose orders share their lists of
# lines; `check_rules` first asks whether anything is wrong by whole columns
# and walks order by order only to name the problems. Each tampering below
# breaks one rule in a way only the walk can name, on such a document.


@pytest.fixture(scope="module")
def assembled(demo: str) -> tuple[object, object]:
    from seedcompile.codes import assign_codes
    from seedcompile.database import DatabaseSettings, create_engine, read_snapshot
    from seedcompile.plan import plan
    from seedcompile.provenance import rules_table
    from seedcompile.reference import prefetch, request_for
    from seedcompile.seedconfig import assemble

    ranged = "{sku: TSHIRT-RED-M, quantity: {min: 1, max: 2}}"
    text = spec(orders(count=12).replace("{sku: TSHIRT-RED-M}", ranged))
    text += preps(count=2, carrier="DHL")
    loaded = loaded_from_text(text)

    async def build() -> tuple[object, object]:
        engine = create_engine(DatabaseSettings(url=demo))
        async with read_snapshot(engine) as conn:
            reference = await prefetch(conn, request_for(loaded.spec))
        await engine.dispose()
        planned = plan(loaded, reference)
        await assign_codes(planned.preps, reference.highest_prep_number, limit=2)
        config = assemble(
            planned,
            [],
            spec_name="spec.yaml",
            spec_digest=loaded.digest,
            reference_digest=reference.digest,
            seed=loaded.spec.seed,
            inventory=loaded.spec.inventory,
            rules=rules_table(loaded),
            prep_groups=["p"],
        )
        return config, reference

    return anyio.run(build)


def test_an_assembled_config_shares_lines_and_breaks_no_rule(
    assembled: tuple[dict, object],
) -> None:
    config, reference = assembled
    lists = {id(order["lines"]) for order in config["orders"]}
    assert len(config["orders"]) == 12
    assert len(lists) == 2  # quantity 1 or 2: two lists for twelve orders
    assert check_rules(config, reference, taken_codes=set()) == []  # type: ignore[arg-type]


def _sharing_first(config: dict) -> list[str]:
    """Refs of the orders that share the first order's list of lines."""
    first = config["orders"][0]["lines"]
    return [o["ref"] for o in config["orders"] if o["lines"] is first]


def _one_of_two_moved(config: dict) -> None:
    """The first order's customer gets the second order too, at its own
    location, and the first order moves: only the first is wrong."""
    first, second = config["orders"][0], config["orders"][1]
    second.update(customer=first["customer"], location=first["location"])
    first["location"] = "MAN1"


def _move(config: dict, ref: str, location: str) -> None:
    for order in config["orders"]:
        if order["ref"] == ref:
            order["location"] = location


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (  # a shared list breaks every order that holds it
            lambda c: c["orders"][0]["lines"][0].update(sku="TSHIRT-GREEN-M"),
            lambda c: [
                f"order {ref}: SKU TSHIRT-GREEN-M not active"
                for ref in _sharing_first(c)
            ],
        ),
        (
            lambda c: c["orders"][1].update(ref="eu-0000"),
            lambda c: [
                "order ref eu-0000 appears twice",
                # its prep still names it by its own ref, which is gone
                "prep LON1-DHL-20261210-0005: order eu-0001 is elsewhere",
            ],
        ),
        (
            lambda c: _move(c, "eu-0003", "MAN1"),
            lambda c: [
                "order eu-0003: not at its customer's location",
                "prep LON1-DHL-20261210-0004: order eu-0003 is elsewhere",
            ],
        ),
        (  # the customer's last order is where it belongs
            _one_of_two_moved,
            lambda c: [
                "order eu-0000: not at its customer's location",
                "prep LON1-DHL-20261210-0004: order eu-0000 is elsewhere",
            ],
        ),
        (
            lambda c: c["collection_preps"][1]["orders"].append("eu-0000"),
            lambda c: ["order eu-0000 is in two preps"],
        ),
        (
            lambda c: c["collection_preps"][0]["orders"].append("nobody"),
            lambda c: ["prep LON1-DHL-20261210-0004: order nobody is elsewhere"],
        ),
    ],
)
def test_the_column_check_names_what_the_walk_finds(
    assembled: tuple[dict, object], tamper: object, expected: object
) -> None:
    import copy

    config, reference = assembled
    config = copy.deepcopy(config)  # keeps the shared lists shared
    tamper(config)  # type: ignore[operator]
    found = check_rules(config, reference, taken_codes=set())  # type: ignore[arg-type]
    assert found == expected(config)  # type: ignore[operator]
