from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "backend.jobs"
    label = "jobs"
    # Job kinds are registered by the apps that define them, each in its own AppConfig.ready().
