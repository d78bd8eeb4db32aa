"""The grid cells as the pages read them: a cell's neighbours (where a new report looks
for duplicates) and the cells as GeoJSON for the maps."""

from departments.models import GridCell

# Cells are neighbours when their bounding boxes touch (within this tolerance, degrees).
NEIGHBOUR_TOLERANCE = 1e-7


def neighbouring_cell_ids(cell: GridCell) -> list[int]:
    """The cell and the cells whose bounding boxes touch it, in one indexed query."""
    tol = NEIGHBOUR_TOLERANCE
    return list(
        GridCell.objects.filter(
            min_lng__lte=cell.max_lng + tol,
            max_lng__gte=cell.min_lng - tol,
            min_lat__lte=cell.max_lat + tol,
            max_lat__gte=cell.min_lat - tol,
        ).values_list("id", flat=True)
    )


def cells_geojson(township_id: int | None = None) -> dict:
    """The grid cells as a GeoJSON FeatureCollection for the maps (drawn from our own data)."""
    cells = GridCell.objects.select_related("township").order_by("code")
    if township_id:
        cells = cells.filter(township_id=township_id)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": cell.boundary,
                "properties": {
                    "id": cell.pk,
                    "code": cell.code,
                    "name": cell.name,
                    "township": cell.township.name,
                },
            }
            for cell in cells
        ],
    }
