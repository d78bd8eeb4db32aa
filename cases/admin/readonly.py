"""Admin mixins for rows that only services write: nobody adds, changes or deletes them
here, and rows about cases are shown only for cases the user may see."""

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from cases.selectors import cases_visible_to


class ReadOnlyAdminMixin:
    # `obj=None` fits both ModelAdmin and InlineModelAdmin signatures.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CaseScopedAdminMixin(ReadOnlyAdminMixin):
    """For models with a `case` foreign key: scoped by `cases_visible_to`; a row outside
    the user's scope is a 404, as if it did not exist."""

    not_found_message = _("No such record.")

    def get_queryset(self, request):
        visible = cases_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(case__in=visible)

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None:
            raise Http404(str(self.not_found_message))
        return found
