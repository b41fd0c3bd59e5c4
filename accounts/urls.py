from django.urls import path

from accounts import views

urlpatterns = [
    path("generate-token", views.GenerateTokenView.as_view(), name="generate-token"),
    path("verify-token", views.VerifyTokenView.as_view(), name="verify-token"),
    path("api/tokens", views.TokenListView.as_view(), name="token-list"),
    path("api/budgets", views.BudgetListView.as_view(), name="budget-list"),
    path("api/budgets/<int:budget_id>", views.BudgetView.as_view(), name="budget"),
]
