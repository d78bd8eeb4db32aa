"""The product's URLs plus the bench's reference views (bench/settings.py only)."""

from django.urls import path

from bench import views
from governance.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/insert/", views.bare_insert, name="bench_insert"),
    path("bench/insert-case/", views.signed_in_insert, name="bench_insert_case"),
    path("bench/page/", views.bare_page, name="bench_page"),
    *product_urlpatterns,
]
