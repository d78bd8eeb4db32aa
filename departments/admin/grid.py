"""Townships and grid cells: a cell's boundary is checked as the grid import checks it,
and its change page draws it among its township's other cells."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.utils.translation import ngettext

from departments.admin.codes import CodeForm
from departments.admin.imports import ImportExportMixin
from departments.importers.geometry import check_geometry, undecodable_json
from departments.models import GridCell, Township


class TownshipForm(CodeForm):
    other_kind_of_scope = GridCell


@admin.register(Township)
class TownshipAdmin(admin.ModelAdmin):
    form = TownshipForm
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


class BoundaryField(forms.JSONField):
    """A cell's GeoJSON as typed. Where Python's decoder raises something other than
    JSONDecodeError (arrays thousands deep, a number of thousands of digits), Django's
    field answered 500: the form says what is wrong, and shows the text as typed again."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (RecursionError, ValueError) as exc:
            raise ValidationError(undecodable_json(exc)) from None

    def bound_data(self, data, initial):
        # Showing the form again decodes the text once more, deeper in the stack.
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)


class GridCellForm(CodeForm):
    other_kind_of_scope = Township

    class Meta:
        model = GridCell
        fields = ["code", "name", "township", "community", "boundary"]
        field_classes = {"boundary": BoundaryField}

    def clean_boundary(self):
        # The grid import's rules and its [lng, lat] floats: an export then imports back
        # unchanged, where a closed-by-shapely ring or a height would be refused or differ.
        problems = []
        boundary, bbox = check_geometry(
            self.cleaned_data["boundary"], lambda _field, message: problems.append(message)
        )
        if problems:
            raise ValidationError(problems)
        self.bbox = bbox["min_lng"], bbox["min_lat"], bbox["max_lng"], bbox["max_lat"]
        return boundary

    def save(self, commit=True):
        cell = super().save(commit=False)
        cell.min_lng, cell.min_lat, cell.max_lng, cell.max_lat = self.bbox
        if commit:
            cell.save()
        return cell


@admin.register(GridCell)
class GridCellAdmin(ImportExportMixin, admin.ModelAdmin):
    import_subject = "grid"
    form = GridCellForm
    list_display = ["code", "name", "township", "community"]
    list_filter = ["township"]
    list_select_related = ["township"]
    search_fields = ["code", "name", "community"]
    autocomplete_fields = ["township"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if moved := getattr(obj, "cases_moved", 0):
            messages.info(
                request,
                ngettext(
                    "%(count)d open case moved with the cell to %(township)s.",
                    "%(count)d open cases moved with the cell to %(township)s.",
                    moved,
                )
                % {"count": moved, "township": obj.township.name},
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            neighbours = GridCell.objects.filter(township_id=obj.township_id).exclude(pk=obj.pk)
            context["cell_map"] = {
                "cell": _feature(obj.code, obj.boundary),
                "neighbours": {
                    "type": "FeatureCollection",
                    "features": [
                        _feature(code, boundary)
                        for code, boundary in neighbours.values_list("code", "boundary")
                    ],
                },
            }
        return super().render_change_form(request, context, add, change, form_url, obj)


def _feature(code: str, boundary: dict) -> dict:
    return {"type": "Feature", "geometry": boundary, "properties": {"code": code}}
