"""Admin pages of the Open311 API: keys (create, see use, revoke) and the request log.

Imported by `cases/open311/urls.py`, not by admin autodiscovery (see there).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from cases.admin.readonly import ReadOnlyAdminMixin
from cases.models import ApiKey, ApiRequest
from cases.services.apikeys import api_key_create, api_keys_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "rate_limit_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["name", "rate_limit_per_minute", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        # Keys stay for the record of what they posted; revoking is how a key ends.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw_key = api_key_create(
            name=obj.name, rate_limit_per_minute=obj.rate_limit_per_minute
        )
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            key.pk,
            key.prefix,
            key.digest,
            key.created_at,
        )
        obj._state.adding = False
        messages.warning(
            request,
            gettext(
                "The new key is %(key)s. Copy it now: it is stored hashed and will not be"
                " shown again."
            )
            % {"key": raw_key},
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        count = api_keys_revoke(key_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
        )


@admin.register(ApiRequest)
class ApiRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The log of posted service requests: read-only, like the audit trail."""

    list_display = ["received_at", "api_key", "service_code", "http_status", "case"]
    list_filter = ["http_status", "api_key"]
    list_select_related = ["api_key", "case"]
    search_fields = ["token", "case__number", "service_code"]
    date_hierarchy = "received_at"
