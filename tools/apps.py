from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from tools import catalog  # noqa: F401  (connects the config_version signals)
        from tools.sync import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self)
