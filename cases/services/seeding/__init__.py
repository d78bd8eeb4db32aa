"""Seeding: the demo district and synthetic cases (`seed_demo`, SPEC §5)."""

from cases.services.seeding.district import (
    CATEGORY_NAMES_EN,
    DEMO_PASSWORD,
    DEMO_TOWNSHIP_CODES,
    SAMPLE_FILES,
    SAMPLES_DIR,
    demo_exists,
    demo_logins,
    demo_usernames,
    seed_district,
)
from cases.services.seeding.synthetic import seed_cases

__all__ = [
    "CATEGORY_NAMES_EN",
    "DEMO_PASSWORD",
    "DEMO_TOWNSHIP_CODES",
    "SAMPLES_DIR",
    "SAMPLE_FILES",
    "demo_exists",
    "demo_logins",
    "demo_usernames",
    "seed_cases",
    "seed_district",
]
