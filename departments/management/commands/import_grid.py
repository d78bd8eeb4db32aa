from django.utils.translation import gettext_lazy as _

from departments.importers import plan_grid
from departments.importers.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import the grid cells (and their townships) from a GeoJSON FeatureCollection. "
        "Idempotent and all-or-nothing: "
        "any bad row is reported with its position and nothing is saved."
    )
    file_label = "FILE.geojson"
    planner = staticmethod(plan_grid)
    progress_message = _("… %(count)d features read")
