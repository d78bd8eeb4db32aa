"""What a person typed into a refused form, kept for the page they are sent back to.

A refused POST redirects (a reload must not post again), and the page it lands on binds
its form to what was typed, so the reason, the note or the departments chosen are not
lost. One form at a time, in the session, taken by the first page view of the same
address. Files cannot be handed back to a browser: they are not kept.
"""

from django.http import QueryDict

SESSION_KEY = "refused_form"


def keep(request, *, form_name: str, page: str, fresh: dict | None = None) -> None:
    """Keep the POST of the refused form `form_name` for `page`, a path with its query;
    `fresh`: values that replace what was posted (the case's version as it is now), a list
    for a field of several."""
    typed = {key: request.POST.getlist(key) for key in request.POST if key != "csrfmiddlewaretoken"}
    typed.update(
        {
            key: [str(v) for v in value] if isinstance(value, list) else [str(value)]
            for key, value in (fresh or {}).items()
        }
    )
    # A fragment (where on the page to land) never reaches the server: the page is without.
    page = page.split("#", 1)[0]
    request.session[SESSION_KEY] = {"page": page, "form": form_name, "data": typed}


def take(request, *, page: str) -> tuple[str, QueryDict] | None:
    """The form's name and the data kept for this page, once; None when nothing was kept."""
    kept = request.session.get(SESSION_KEY)
    if not kept or kept["page"] != page:
        return None
    del request.session[SESSION_KEY]
    data = QueryDict(mutable=True)
    for key, values in kept["data"].items():
        data.setlist(key, values)
    return kept["form"], data
