"""The usage dashboard at /dashboard/: staff see who used what, server-rendered.

forms.py reads the page's filters, selectors.py computes what it shows (through the one
usage reader every report uses, telemetry.selectors.UsageReader), charts.py shapes it for
the charts, views.py ties them together. docs/dashboard.md says what each part shows.
"""
