"""Read-side helpers, by subject: `access` (who sees which case: `cases_visible_to` is the
one access rule every page, export, the admin and the API scope their case querysets by),
`lists`, `search` (the lists' text search and its bigram prefilter), `detail` (one case's
page), `trail` (the audit trail read back), `deadlines`, `cells`, `health` (the sweep's
heartbeat), `dashboard` (the supervisors' figures) and `supervision` (the departments'
return, extension, reopen and accept figures)."""
