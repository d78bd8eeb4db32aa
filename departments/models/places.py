"""Places: the townships and the grid cells they are cut into."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Township(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = _("township")
        verbose_name_plural = _("townships")

    def __str__(self):
        return f"{self.name} ({self.code})"


class GridCell(models.Model):
    """A grid cell with its boundary as a GeoJSON geometry in WGS84.

    The bounding box is stored too so that the database can narrow a search by an index;
    point location itself goes through the router's STRtree (departments/routing.py).
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    township = models.ForeignKey(
        Township, on_delete=models.PROTECT, related_name="cells", verbose_name=_("township")
    )
    community = models.CharField(_("community"), max_length=100, blank=True)
    boundary = models.JSONField(_("boundary"), help_text=_("GeoJSON Polygon or MultiPolygon"))
    min_lng = models.FloatField()
    min_lat = models.FloatField()
    max_lng = models.FloatField()
    max_lat = models.FloatField()

    class Meta:
        ordering = ["code"]
        verbose_name = _("grid cell")
        verbose_name_plural = _("grid cells")
        indexes = [models.Index(fields=["min_lng", "max_lng", "min_lat", "max_lat"])]

    def __str__(self):
        return f"{self.name} ({self.code})"
