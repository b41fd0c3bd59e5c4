"""The Django admin of the token registry (list, filter, revoke in bulk, issue) and of
budgets."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages

from accounts.errors import BudgetUnavailable
from accounts.models import Budget, TokenRecord
from accounts.selectors import TOKEN_STATUSES, budget_statuses, status_condition, token_status
from accounts.serializers import GenerateTokenInput
from accounts.services import issue_token, revoke_tokens
from accounts.tokens import SOEID_RULE


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status, status) for status in TOKEN_STATUSES]

    def queryset(self, request, queryset):
        if self.value() not in TOKEN_STATUSES:
            return queryset
        return queryset.filter(status_condition(self.value()))


class IssueTokenForm(forms.ModelForm):
    """Issuing from the admin: the API's rules (accounts.serializers.GenerateTokenInput)."""

    expires_in = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.TOKEN_MAX_LIFETIME_SECONDS,
        help_text="Lifetime in seconds; empty for TOKEN_LIFETIME_SECONDS.",
    )

    class Meta:
        model = TokenRecord
        fields = ["soeid", "project_id", "name"]
        help_texts = {"soeid": SOEID_RULE}

    def clean(self):
        data = super().clean()
        fields = {key: value for key, value in data.items() if value not in (None, "")}
        params = GenerateTokenInput(data=fields)
        if not params.is_valid():
            for name, errors in params.errors.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.issue = params.validated_data
        return data


@admin.register(TokenRecord)
class TokenRecordAdmin(admin.ModelAdmin):
    list_display = ("jti", "soeid", "project_id", "name", "issued_at", "expires_at")
    list_display += ("issued_by", "status", "revoked_at")
    list_filter = (StatusFilter, "issued_at", "project_id")
    search_fields = ("jti", "soeid", "name", "project_id")
    actions = ["revoke_selected"]
    readonly_fields = [field.name for field in TokenRecord._meta.fields]

    @admin.display(description="status")
    def status(self, record: TokenRecord) -> str:
        return token_status(record)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = IssueTokenForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["soeid", "project_id", "name", "expires_in"]
        return super().get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        """Issues the token: it is shown once, here, and never stored."""
        issued = issue_token(**form.issue, issued_by=f"admin:{request.user.get_username()}")
        obj.pk = issued.jti
        obj.refresh_from_db()
        messages.success(
            request,
            f"Token for {issued.soeid} (jti {issued.jti}), shown only now: {issued.token}",
        )

    def has_change_permission(self, request, obj=None):
        # Nothing of an issued token can change but its revocation (the action).
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting a revoked token's row would make the token valid again.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset):
        count = revoke_tokens(
            queryset.values_list("jti", flat=True),
            reason=f"revoked in the admin by {request.user.get_username()}",
        )
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Budgets per SOEID, per project, and the default per SOEID; with this period's spend."""

    list_display = ("scope", "subject", "period", "token_limit", "cost_limit", "spent")
    list_filter = ("scope", "period")
    search_fields = ("subject",)
    fields = ("scope", "subject", "period", "token_limit", "cost_limit")

    @admin.display(description="spent this period")
    def spent(self, budget: Budget) -> str:
        try:
            (status,) = budget_statuses([budget])
        except BudgetUnavailable:
            return "ledger unavailable"
        if status.spent_tokens is None:
            return "(each SOEID apart)"
        return f"{status.spent_tokens} tokens, {status.spent_cost:f} USD"
