"""Import with a preview, and export, of the SPEC §5 files from the admin.

The same two-step API as the `import_*` commands (departments/importers): the upload is
planned and shown row by row (create / update / unchanged, with the changes) or with its
errors and their line numbers; "Apply" plans the same file again against the database as
it is then and writes it only if every row would still do what the preview showed (the
same action and the same changes, old values included). The file
waits between the two steps in the session (database-backed, so any web process can take
the second step).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from departments.exporters import EXPORTERS
from departments.importers import (
    COLUMNS,
    PLANNERS,
    UNCHANGED,
    ImportPlan,
    ImportRefused,
    apply,
    format_summary,
)
from departments.importers.plans import RowPlan
from departments.wording import join_sentences

PREVIEW_ROWS = 500
SESSION_KEY = "admin-import:{subject}"


# The file waits in the session between preview and apply: keep that row reasonable.
MAX_IMPORT_BYTES = 20 * 1024 * 1024


class NotAsPreviewed(Exception):
    """Planned again at "Apply", the import is not the one previewed (the data changed, or
    the file no longer imports): nothing is written."""

    def __init__(self, plan):
        super().__init__()
        self.plan = plan


class ImportForm(forms.Form):
    file = forms.FileField(label=_("File"))

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB: import it with the command instead.")
                % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
            )
        return file


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_digest(plan: ImportPlan) -> str:
    """A fingerprint of what `plan` would write: every row's key, action and changes (old
    and new values), townships included. Equal counts are not enough: another
    administrator may have changed a row between preview and apply, and the file would
    then overwrite what the preview never showed."""
    rows = [
        [
            kind,
            row.key,
            row.action,
            sorted([name, old, new] for name, (old, new) in row.changes.items()),
        ]
        for kind, rows in (("rows", plan.rows), ("side_rows", plan.side_rows))
        for row in rows
    ]
    # default=str: dates, decimals; sort_keys: a boundary's members in one order.
    return _digest(json.dumps(rows, default=str, sort_keys=True, ensure_ascii=False))


# The grid's bounding box: worked out from the boundary, which the preview shows already.
DERIVED_FIELDS = {"min_lng", "min_lat", "max_lng", "max_lat"}


@dataclass(frozen=True)
class PreviewRow:
    line: int
    key: str
    action: str
    changes: list[tuple[str, Any, Any]]


def preview_rows(model, rows: list[RowPlan]) -> list[PreviewRow]:
    """Planned rows as a person reads them: a key of several columns joined by " / ", a
    field under its label, a related record by its name rather than its id (one query per
    related model), a choice and a yes-or-no in words."""
    if not rows:
        return []
    fields = {}
    for name in {name for row in rows for name in row.changes} - DERIVED_FIELDS:
        try:
            fields[name] = model._meta.get_field(name)
        except FieldDoesNotExist:
            fields[name] = None  # a column of the file, such as township_code
    related = {
        name: field.related_model._default_manager.in_bulk(
            {value for row in rows for value in row.changes.get(name, ()) if value is not None}
        )
        for name, field in fields.items()
        if field is not None and field.is_relation
    }

    def shown(name, value):
        field = fields[name]
        if value is None or field is None:
            return value
        if name in related:
            return related[name].get(value, value)
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        if isinstance(value, bool):
            return gettext("yes") if value else gettext("no")
        return value

    return [
        PreviewRow(
            line=row.line,
            key=" / ".join(map(str, row.key)) if isinstance(row.key, tuple) else str(row.key),
            action=row.action,
            changes=[
                (
                    # A file's own column keeps its spelling: "township_code", not "Township_code".
                    capfirst(fields[name].verbose_name) if fields[name] is not None else name,
                    shown(name, old),
                    shown(name, new),
                )
                for name, (old, new) in row.changes.items()
                if name in fields
            ],
        )
        for row in rows
    ]


class ImportExportMixin:
    """For a ModelAdmin: `import_subject` names the SPEC §5 format (a key of PLANNERS)."""

    import_subject: str = ""
    change_list_template = "admin/departments/change_list_import_export.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import": self.has_import_permission(request),
            "import_subject": self.import_subject,
        }
        return super().changelist_view(request, extra_context)

    # -- export -----------------------------------------------------------------------

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        exporter, filename, content_type = EXPORTERS[self.import_subject]
        response = HttpResponse(exporter(), content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # -- import -----------------------------------------------------------------------

    def plan_import(self, request, data: bytes | str) -> ImportPlan:
        """Check an uploaded file (preview) or the stored one (apply) with the subject's
        planner; a ModelAdmin may pass the planner what it knows from the request."""
        return PLANNERS[self.import_subject](data)

    def after_import(self, request, result) -> str:
        """Follow-ups of an applied import inside its transaction; returns a message."""
        return ""

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        key = SESSION_KEY.format(subject=self.import_subject)
        form = ImportForm()
        if request.method == "POST" and "apply" in request.POST:
            return self._apply(request, key)
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data["file"].read()
                plan = self.plan_import(request, data)
                text = data.decode("utf-8-sig", errors="replace")
                if not plan.errors:
                    request.session[key] = {
                        "name": form.cleaned_data["file"].name,
                        "text": text,
                        "digest": _digest(text),
                        "plan": plan_digest(plan),
                    }
                else:
                    request.session.pop(key, None)
                return self._render(
                    request, plan=plan, name=form.cleaned_data["file"].name, digest=_digest(text)
                )
        return self._render(request, form=form)

    def _apply(self, request, key):
        stored = request.session.get(key)
        if not stored or stored["digest"] != request.POST.get("digest"):
            messages.error(request, gettext("Upload the file again: its preview has expired."))
            return HttpResponseRedirect(request.path)
        try:
            with transaction.atomic():
                # Planned again, compared and written in one transaction, with the stored
                # rows locked: an edit saved meanwhile waits for the write and one saved
                # before shows in the digest, rather than being overwritten unseen.
                list(self.model._default_manager.select_for_update().values_list("pk", flat=True))
                plan = self.plan_import(request, stored["text"])
                if plan.errors or plan_digest(plan) != stored.get("plan"):
                    raise NotAsPreviewed(plan)
                result = apply(plan)
                extra = self.after_import(request, result)
        except NotAsPreviewed as changed:
            if changed.plan.errors:
                return self._render(
                    request, plan=changed.plan, name=stored["name"], digest=stored["digest"]
                )
            return self._changed_since_preview(request, key, stored, changed.plan)
        except ImportRefused as refused:
            plan.errors = refused.errors
            return self._render(request, plan=plan, name=stored["name"], digest=stored["digest"])
        except IntegrityError:
            # The same records were written between this plan and its write (the file
            # applied twice at once: a double click, or another administrator); nothing of
            # this one was. Planned again, the preview says what is left to do now.
            plan = self.plan_import(request, stored["text"])
            return self._changed_since_preview(request, key, stored, plan)
        del request.session[key]
        # The file's name is not first: the admin capitalises the start of every message.
        text = gettext("Imported %(file)s: %(summary)s.") % {
            "file": stored["name"],
            "summary": format_summary(result.summary),
        }
        # Two sentences: Chinese writes no space after the first one's full stop.
        messages.success(request, join_sentences([text, extra]) if extra else text)
        return HttpResponseRedirect(
            reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist"
            )
        )

    def _changed_since_preview(self, request, key, stored, plan):
        """Someone changed the data since the preview: show what would happen now."""
        stored["plan"] = plan_digest(plan)
        request.session[key] = stored
        messages.warning(
            request,
            gettext("The data changed since the preview. Check the new preview and apply again."),
        )
        return self._render(request, plan=plan, name=stored["name"], digest=stored["digest"])

    def _render(self, request, *, form=None, plan=None, name="", digest=""):
        changed = side_changed = []
        if plan:
            changed = [row for row in plan.rows if row.action != UNCHANGED]
            side_changed = [row for row in plan.side_rows if row.action != UNCHANGED]
        side_shown = side_changed[: max(0, PREVIEW_ROWS - len(changed))]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import %(what)s") % {"what": self.opts.verbose_name_plural},
            "subject": self.import_subject,
            # What the file must hold, and the same format of today's data to start from.
            "columns": COLUMNS[self.import_subject],
            "may_export": self.has_view_permission(request),
            "form": form or ImportForm(),
            "plan": plan,
            "name": name,
            "digest": digest,
            # Unchanged rows are only counted: the preview shows what would change.
            "rows": [
                *preview_rows(self.model, changed[:PREVIEW_ROWS]),
                *preview_rows(plan.side_model if plan else None, side_shown),
            ],
            "more_rows": max(0, len(changed) + len(side_changed) - PREVIEW_ROWS),
            "summary": format_summary(plan.summary) if plan else "",
            "side_summary": format_summary(plan.side_summary) if plan and plan.side_rows else "",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/departments/import.html", context)
