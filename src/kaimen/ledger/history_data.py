"""What the demo history is made of: card merchants by ISO 18245 merchant category code, employers,
landlords and the utilities that collect by direct debit. Every name is fictitious."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardCategory:
    mcc: str  # ISO 18245 merchant category code
    label: str
    merchants: tuple[str, ...]
    low: int  # amount range, minor units
    high: int
    weight: int  # relative frequency among a customer's card purchases
    needs: str | None = None  # a habit the customer must have: "car" | "commute"


CARD_CATEGORIES = (
    CardCategory(
        "5411", "groceries", ("Greenleaf Grocers", "Harbour Market", "FreshWay Supermarket"), 650, 9200, 30
    ),
    CardCategory(
        "5812", "restaurants", ("The Copper Kettle", "Lotus Garden", "Trattoria Sole"), 1400, 6800, 9
    ),
    CardCategory(
        "5814", "fast food and coffee", ("Bean There Coffee", "Quick Bite", "Bun & Roll"), 280, 1450, 14
    ),
    CardCategory("5541", "fuel", ("Roadstar Fuel", "Northway Service Station"), 3800, 7800, 5, "car"),
    CardCategory("4111", "commuter transport", ("City Transit", "Metro Rail"), 280, 860, 16, "commute"),
    CardCategory("4121", "taxis", ("Blackcab Co", "RideNow Taxis"), 850, 3200, 3),
    CardCategory("5912", "pharmacy", ("Wellbeing Pharmacy",), 350, 2600, 3),
    CardCategory("5942", "books", ("Pageturner Books",), 799, 2499, 2),
    CardCategory("5651", "clothing", ("Thread & Co", "Urban Outfit"), 1800, 8500, 3),
    CardCategory("5732", "electronics", ("Circuit Electronics",), 1999, 14999, 1),
    CardCategory("7832", "cinema", ("Picturehouse Lights",), 1050, 2800, 2),
    CardCategory("5813", "bars", ("The Anchor Inn", "Hop & Barrel"), 520, 4200, 5),
)

# A monthly card subscription: (MCC, merchant, amount in minor units).
SUBSCRIPTIONS = (
    ("4899", "StreamBox", 1099),
    ("7997", "FitLife Gym", 3500),
    ("5815", "Tunely Music", 1199),
)

EMPLOYERS = (
    "Northwind Logistics Ltd",
    "Brightside Health Trust",
    "Quayside Software Ltd",
    "Meridian Retail plc",
)
LANDLORDS = ("Harbourview Lettings", "Oakfield Property Management", "J & M Holdings")

# Utilities collected by direct debit: (kind, payee, low, high, months collected: None = every month).
UTILITIES = (
    ("energy", "Northgrid Energy", 6500, 14500, None),
    ("water", "Riverside Water", 2800, 4600, None),
    ("broadband", "Fibrelink Broadband", 2500, 4500, None),
    # Council tax: ten instalments, April to January.
    ("council tax", "Kaimen Borough Council", 12000, 21000, (1, 4, 5, 6, 7, 8, 9, 10, 11, 12)),
)

FIRST_NAMES = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Priya", "Wei")
LAST_NAMES = ("Smith", "Patel", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Chen", "Khan", "Walker")
STREETS = ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Park Avenue")
# (town, postcode area)
TOWNS = (("London", "SE"), ("Manchester", "M"), ("Leeds", "LS"), ("Bristol", "BS"), ("Glasgow", "G"))
