"""Data leaving the jurisdiction: transfer approvals, the one export gate and its log,
and the scrubber and scanner for anonymised exports."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrossborderConfig(AppConfig):
    name = "crossborder"
    verbose_name = _("Cross-border data")

    def ready(self) -> None:
        from crossborder import navigation, rules  # noqa: F401  (rules registers permissions)

        navigation.register()
