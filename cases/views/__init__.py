"""The caseworker, dispatcher and supervisor pages, one module per page group; and the pages
of the signed links in emails (`escalation`: acknowledge, `extensions`: decide), which need
no sign-in."""
