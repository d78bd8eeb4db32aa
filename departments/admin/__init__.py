"""The administrators' admin: townships, grid cells, departments, categories, the
responsibility list, the working calendar and users, one module per subject; `imports`
is the import-with-preview and export their changelists share.

Django's autodiscovery imports this package only: importing the modules here registers
their ModelAdmins."""

from departments.admin import calendar, departments, grid, users  # noqa: F401
