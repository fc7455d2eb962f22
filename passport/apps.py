from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PassportConfig(AppConfig):
    name = "passport"
    verbose_name = _("Passport")

    def ready(self) -> None:
        from passport import navigation

        navigation.register()
