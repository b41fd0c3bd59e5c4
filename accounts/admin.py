from django.contrib import admin

from accounts.models import RevokedToken


@admin.register(RevokedToken)
class RevokedTokenAdmin(admin.ModelAdmin):
    list_display = ("jti", "soeid", "revoked_at", "expires_at", "reason")
    search_fields = ("jti", "soeid")
