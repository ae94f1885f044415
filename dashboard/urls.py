from django.contrib.auth import views as auth_views
from django.urls import path

from backend.core.throttles import login_throttled
from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("par/", views.par, name="par"),
    path("par/heatmap/", views.par_heatmap, name="heatmap"),
    path("labelling-time/", views.labelling_time, name="time"),
    path("models/", views.models, name="models"),
    path("active-learning/", views.learning, name="learning"),
    path("jobs/", views.jobs, name="jobs"),
    path("datasets/", views.datasets, name="datasets"),
    path("datasets/versions/<int:version_id>/", views.datasheet, name="datasheet"),
    path("login/", login_throttled(auth_views.LoginView.as_view(  # attempts per client: backend/core/throttles.py
        template_name="dashboard/login.html", next_page="dashboard:overview", redirect_authenticated_user=True)),
        name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
]
