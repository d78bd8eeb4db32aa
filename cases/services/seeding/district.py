"""The demo district (`seed_demo`, SPEC §5), loaded from the sample files in
`departments/samples/` through the same importers as real data, so the samples stay
importable and seeding again changes nothing."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, check_password, make_password
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from departments.importers import PLANNERS, ImportRefused, ImportResult, apply
from departments.models import Category, Township, User

SAMPLES_DIR = Path(settings.BASE_DIR) / "departments" / "samples"
SAMPLE_FILES = {
    "grid": "grid.geojson",
    "departments": "departments.csv",
    "categories": "categories.csv",
    "responsibilities": "responsibilities.csv",
    "users": "users.csv",
}
# The demo's township codes: present means the demo is loaded (`seed_demo --if-empty`).
DEMO_TOWNSHIP_CODES = ("CD", "CX", "TY")
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed for the demo's users, never real

# English names of the sample categories (categories.csv has no column for them).
CATEGORY_NAMES_EN = {
    "ENV": "City appearance and sanitation",
    "ENV-RUBBISH": "Exposed rubbish",
    "ENV-SEWAGE": "Sewage overflow",
    "ENV-ADS": "Illegal flyers and graffiti",
    "ENV-NOISE": "Noise nuisance",
    "ENV-FUMES": "Restaurant cooking fumes",
    "STREET": "Street order",
    "STREET-STALL": "Street stall blocking the way",
    "STREET-PARKING": "Illegal parking",
    "STREET-BUILD": "Illegal structure",
    "FACILITY": "Municipal facilities",
    "FACILITY-LAMP": "Broken street light",
    "FACILITY-ROAD": "Damaged road",
    "FACILITY-MANHOLE": "Missing or broken manhole cover",
    "FACILITY-PIPE": "Leaking water main",
    "FACILITY-CABLE": "Hazardous power line",
    "SAFETY": "Public safety",
    "SAFETY-FIRELANE": "Blocked fire lane",
    "SAFETY-GAS": "Gas safety hazard",
    "SAFETY-HOUSE": "Dangerous building",
    "MARKET": "Market regulation",
    "MARKET-FOOD": "Food safety",
    "MARKET-PRICE": "Price complaint",
    "SOCIAL": "Community services",
    "SOCIAL-DISPUTE": "Neighbour dispute",
    "SOCIAL-ELDERLY": "Elderly person in need",
    "SOCIAL-STRAY": "Stray animals",
    "GREEN": "Parks and greenery",
    "GREEN-TREE": "Fallen tree",
    "OTHER": "Other",
}


def demo_exists() -> bool:
    return Township.objects.filter(code__in=DEMO_TOWNSHIP_CODES).exists()


@transaction.atomic
def seed_district(*, samples_dir: Path = SAMPLES_DIR) -> dict[str, ImportResult]:
    """Load (or bring up to date) the demo district from the sample files.

    One transaction: the five imports in dependency order, the categories' English names,
    and the demo password for the demo users it creates. Running it again changes
    nothing. Raises `ImportRefused` (and saves nothing) if a sample file has errors.
    """
    results = {}
    for subject, planner in PLANNERS.items():
        plan = planner((samples_dir / SAMPLE_FILES[subject]).read_bytes())
        if plan.errors:
            raise ImportRefused(plan.errors)
        results[subject] = apply(plan)
    categories = list(Category.objects.filter(code__in=CATEGORY_NAMES_EN))
    renamed = [c for c in categories if c.name_en != CATEGORY_NAMES_EN[c.code]]
    for category in renamed:
        category.name_en = CATEGORY_NAMES_EN[category.code]
    Category.objects.bulk_update(renamed, ["name_en"])
    # One hash for all: hashing is slow on purpose, and these passwords are public anyway.
    # Only for the users this run made: a same-named user imported for real, still to accept
    # an invitation, must not get the public password.
    User.objects.filter(
        Q(password__startswith=UNUSABLE_PASSWORD_PREFIX) | Q(password=""),
        pk__in=[user.pk for user in results["users"].created],
    ).update(password=make_password(DEMO_PASSWORD))
    return results


def demo_usernames(*, samples_dir: Path = SAMPLES_DIR) -> list[str]:
    text = (samples_dir / SAMPLE_FILES["users"]).read_text(encoding="utf-8-sig")
    return [line.split(",", 1)[0] for line in text.splitlines()[1:] if line.strip()]


def demo_logins(*, samples_dir: Path = SAMPLES_DIR) -> list[tuple[str, str, str, str]]:
    """(username, password, role, where) of the demo users, in the sample file's order."""
    names = demo_usernames(samples_dir=samples_dir)
    users = User.objects.select_related("township", "department").in_bulk(
        names, field_name="username"
    )
    # Users seeded together share one hash (seed_district): one check per distinct hash
    # tells who still has the demo password, rather than printing it for everybody.
    still_demo = {
        encoded
        for encoded in {user.password for user in users.values()}
        if encoded and check_password(DEMO_PASSWORD, encoded)
    }
    rows = []
    for name in names:
        user = users.get(name)
        if user is None:
            continue
        where = user.department or user.township
        if where is None:
            where = _("district") if user.role == User.Role.SUPERVISOR else "—"
        if user.password in still_demo:
            password = DEMO_PASSWORD
        elif user.has_usable_password():
            password = _("(changed)")
        else:
            password = _("(none yet: invited)")
        rows.append((name, password, user.role, str(where)))
    return rows
