"""What a POST on a case page meets when another step took the case out of its author's
sight meanwhile (returned to the pool, given to another department, an assisting
department let go): "the case changed", not "no such case" (SPEC §2)."""

from functools import wraps

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect

from cases.selectors.access import case_passed_on
from cases.trail_words import passed_on_words


def told_when_passed_on(version_field: str | None = None):
    """For a view of `/cases/<number>/…` POSTs: a 404 for a case that the user's department
    had and another step passed on becomes the list with a message saying so. With
    `version_field`, only when the page's version (that POST field) is behind the case's."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, number, *args, **kwargs):
            try:
                return view(request, number, *args, **kwargs)
            except Http404:
                version = request.POST.get(version_field) if version_field else None
                passed_on = case_passed_on(
                    request.user, version, stale_only=version_field is not None, number=number
                )
                if passed_on is None:
                    raise
                messages.error(request, passed_on_words(passed_on))
                return redirect("cases:list")

        return wrapped

    return decorator
