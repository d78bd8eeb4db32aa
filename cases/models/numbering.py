"""Case numbers: the last one issued each year, from which intake allocates the next
(`cases/services/intake.py`, allocate_case_numbers)."""

from django.db import models


class CaseNumberCounter(models.Model):
    """The last case number issued per year; numbers are `YYYY-NNNNNN`."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last}"
