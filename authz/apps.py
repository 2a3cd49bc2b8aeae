from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "authz"
    verbose_name = "Authorization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from authz import checks  # noqa: F401  (registers the system checks)
        from authz.bootstrap import bootstrap_after_migrate

        post_migrate.connect(bootstrap_after_migrate, sender=self)
        # After bootstrap's hook, so the default tenant exists when its periodic tasks are made.
        from authz import schedules

        schedules.connect(self)
