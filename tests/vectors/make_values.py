"""Write tests/vectors/values.json: field values each column type must accept or refuse, the
rules of DESIGN.md ("Data model") written out as cases, for the Python and TypeScript
validators (tests/crdt/test_value_vectors.py, frontend/tests/values.test.ts). A value the
server accepts must be one every browser accepts, or a replica would fail on it.

    python tests/vectors/make_values.py

The verdicts are written here by hand from the rules, not computed by either validator.
Left out on purpose: numbers JavaScript cannot tell apart from others (1.0 from 1, 2**53 + 1
from 2**53), which JSON carries differently to the two languages; the server refuses the
Python side's reading of them, so no replica ever receives one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("values.json")

ROW = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

#: (dataset, column, value, valid, why)
CASES: list[tuple[str, str, Any, bool, str]] = [
    # -- dates: YYYY-MM-DD, a real day, years 2000..2099 --------------------------------
    ("pre_orders", "delivery_date", "2026-12-01", True, "a date"),
    ("pre_orders", "delivery_date", "2024-02-29", True, "a leap day"),
    ("pre_orders", "delivery_date", "2000-02-29", True, "leap day of 2000"),
    ("pre_orders", "delivery_date", "2023-02-29", False, "no leap day in 2023"),
    ("pre_orders", "delivery_date", "2026-04-31", False, "April 31"),
    ("pre_orders", "delivery_date", "2026-13-01", False, "month 13"),
    ("pre_orders", "delivery_date", "2026-00-10", False, "month 00"),
    ("pre_orders", "delivery_date", "2026-05-00", False, "day 00"),
    ("pre_orders", "delivery_date", "2000-01-01", True, "the first day of the range"),
    ("pre_orders", "delivery_date", "2099-12-31", True, "the last day of the range"),
    ("pre_orders", "delivery_date", "1999-12-31", False, "before the range"),
    ("pre_orders", "delivery_date", "2100-01-01", False, "after the range"),
    ("pre_orders", "delivery_date", "0001-01-01", False, "year 1"),
    ("pre_orders", "delivery_date", "2026-5-1", False, "unpadded"),
    ("pre_orders", "delivery_date", "2026/05/01", False, "slashes"),
    ("pre_orders", "delivery_date", "2026-05-01T00:00:00Z", False, "a datetime"),
    ("pre_orders", "delivery_date", " 2026-05-01", False, "a leading space"),
    ("pre_orders", "delivery_date", "٢٠٢٦-05-01", False, "Arabic-Indic digits"),
    ("pre_orders", "delivery_date", 20260501, False, "a number"),
    ("pre_orders", "delivery_date", None, True, "null (cleared)"),
    # -- datetimes: YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z, real, years 2000..2099 -------------
    ("pre_orders", "created_at", "2026-12-01T08:30:00Z", True, "a datetime"),
    ("pre_orders", "created_at", "2026-12-01T08:30:00.5Z", True, "tenths"),
    ("pre_orders", "created_at", "2026-12-01T08:30:00.123456Z", True, "micros"),
    ("pre_orders", "created_at", "2026-12-01T08:30:00.1234567Z", False, "seven digits"),
    ("pre_orders", "created_at", "2026-12-01T23:59:59Z", True, "the last second of a day"),
    ("pre_orders", "created_at", "2026-12-01T24:00:00Z", False, "hour 24"),
    ("pre_orders", "created_at", "2026-12-01T12:60:00Z", False, "minute 60"),
    ("pre_orders", "created_at", "2026-12-01T12:00:60Z", False, "second 60"),
    ("pre_orders", "created_at", "2026-13-45T99:99:99Z", False, "nothing real"),
    ("pre_orders", "created_at", "2026-02-30T10:00:00Z", False, "February 30"),
    ("pre_orders", "created_at", "1999-12-31T23:59:59Z", False, "before the range"),
    ("pre_orders", "created_at", "2026-12-01T08:30:00+00:00", False, "an offset, not Z"),
    ("pre_orders", "created_at", "2026-12-01 08:30:00Z", False, "a space for T"),
    ("pre_orders", "created_at", "2026-12-01T08:30Z", False, "no seconds"),
    ("pre_orders", "created_at", "2026-12-01T08:30:00z", False, "lower-case z"),
    # -- statuses ---------------------------------------------------------------------
    ("pre_orders", "status", "pending", True, "pending"),
    ("pre_orders", "status", "confirmed", True, "confirmed"),
    ("pre_orders", "status", "Confirmed", False, "capitalized"),
    ("pre_orders", "status", "shipped", True, "shipped"),
    ("pre_orders", "status", "closed", True, "closed (the Orders API's end)"),
    ("pre_orders", "status", "draft", False, "the Orders API's name, not the model's"),
    ("pre_orders", "priority", "high", True, "a priority"),
    ("pre_orders", "priority", "High", False, "a capitalized priority"),
    ("pre_orders", "priority", "urgent", False, "not a priority"),
    ("pre_order_flows", "status", "cancelled", True, "a line status"),
    ("pre_order_flows", "status", "pending", False, "an order's status, not a line's"),
    # -- money: integer cents --------------------------------------------------------
    ("pre_orders", "total_cents", 1234, True, "cents"),
    ("pre_orders", "total_cents", 0, True, "zero"),
    ("pre_orders", "total_cents", 1_000_000_000_000, True, "the bound"),
    ("pre_orders", "total_cents", 1_000_000_000_001, False, "over the bound"),
    ("pre_orders", "total_cents", 12.5, False, "a fraction of a cent"),
    ("pre_orders", "total_cents", -1, False, "negative"),
    ("pre_orders", "total_cents", "1234", False, "a numeric string"),
    ("pre_order_flows", "price_cents", 199, True, "a line price"),
    ("products", "unit_price_cents", 250, True, "a unit price"),
    ("products", "unit_price_cents", None, True, "null (no price)"),
    ("pre_orders", "status", "", False, "empty"),
    # -- uuids: lower-case, hyphenated ------------------------------------------------
    ("pre_orders", "partner_id", ROW, True, "a uuid"),
    ("pre_orders", "partner_id", ROW.upper(), False, "upper case"),
    ("pre_orders", "partner_id", ROW.replace("-", ""), False, "no hyphens"),
    ("pre_orders", "partner_id", "{" + ROW + "}", False, "braces"),
    ("pre_orders", "partner_id", ROW[:-1], False, "one digit short"),
    # -- quantities: finite numbers 0..1e12 -------------------------------------------
    ("pre_order_flows", "quantity", 0, True, "zero"),
    ("pre_order_flows", "quantity", 12, True, "an integer"),
    ("pre_order_flows", "quantity", 2.5, True, "a fraction"),
    ("pre_order_flows", "quantity", 1e12, True, "the bound"),
    ("pre_order_flows", "quantity", 1000000000001, False, "over the bound"),
    ("pre_order_flows", "quantity", -1, False, "negative"),
    ("pre_order_flows", "quantity", -0.5, False, "a negative fraction"),
    ("pre_order_flows", "quantity", 1e300, False, "huge"),
    ("pre_order_flows", "quantity", "12", False, "a numeric string"),
    ("pre_order_flows", "quantity", True, False, "a boolean"),
    ("pre_order_flows", "weight", 0.001, True, "a gram"),
    ("products", "unit_weight", 25, True, "a unit weight"),
    # -- tombstones: 0 or 1 -----------------------------------------------------------
    ("pre_orders", "tombstone", 0, True, "live"),
    ("pre_orders", "tombstone", 1, True, "deleted"),
    ("pre_orders", "tombstone", 2, False, "two"),
    ("pre_orders", "tombstone", None, False, "null"),
    ("pre_orders", "tombstone", True, False, "a boolean"),
    ("pre_orders", "tombstone", "1", False, "a string"),
    # -- text: at most 500 code points (short text 100), no NUL ---------------------------
    ("partners", "name", "Nordic Foods", True, "a name"),
    ("partners", "name", "", True, "empty"),
    ("partners", "name", "x" * 500, True, "500 characters"),
    ("partners", "name", "x" * 501, False, "501 characters"),
    ("partners", "name", "😀" * 500, True, "500 astral characters (1000 UTF-16 units)"),
    ("partners", "name", "😀" * 501, False, "501 astral characters"),
    ("partners", "name", "a\u0000b", False, "a NUL"),
    ("partners", "name", "‮right-to-left", True, "a bidi control"),
    ("partners", "name", 42, False, "a number"),
    ("partners", "short_name", "y" * 100, True, "100 characters"),
    ("partners", "short_name", "y" * 101, False, "101 characters"),
    ("products", "sku", "SKU-001", True, "a sku"),
    # -- emails ---------------------------------------------------------------------------
    ("profiles", "email", "alice@recap.example", True, "an email"),
    ("profiles", "email", "élodie@exemple.fr", True, "a non-ASCII local part"),
    ("profiles", "email", "alice@recap", False, "no dot in the domain"),
    ("profiles", "email", "alice recap@x.example", False, "a space"),
    ("profiles", "email", "alice\u00a0recap@x.example", False, "a no-break space"),
    ("profiles", "email", "alice\u2028@x.example", False, "a line separator"),
    ("profiles", "email", "alice\u001c@x.example", False, "a control character"),
    ("profiles", "email", "a@b@c.example", False, "two @"),
    ("profiles", "email", "@x.example", False, "no local part"),
    ("profiles", "email", "alice@x.", False, "nothing after the dot"),
    # -- avatars: a data:image/ URL of at most 200,000 code points ---------------------
    ("profiles", "avatar", "data:image/png;base64,iVBORw0KGgo=", True, "a small png"),
    ("profiles", "avatar", "data:image/png;base64," + "A" * 199_978, True, "200,000 characters"),
    ("profiles", "avatar", "data:image/png;base64," + "A" * 199_979, False, "200,001 characters"),
    ("profiles", "avatar", "https://example.com/a.png", False, "a link, not data"),
    # -- what no column takes -------------------------------------------------------------
    ("pre_orders", "nope", "x", False, "an unknown column"),
    ("nope", "name", "x", False, "an unknown dataset"),
    ("partners", "name", True, False, "a boolean in a text column"),
]


def build() -> dict[str, Any]:
    return {
        "generator": "tests/vectors/make_values.py",
        "row": ROW,
        "cases": [
            {"dataset": d, "column": c, "value": v, "valid": ok, "why": why}
            for d, c, v, ok, why in CASES
        ],
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), ensure_ascii=False) + "\n")
    print(f"wrote {OUT}: {len(CASES)} cases")
