"""The caseworker, dispatcher and supervisor pages, one module per page group."""
