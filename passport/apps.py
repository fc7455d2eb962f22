from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PassportConfig(AppConfig):
    name = "passport"
    verbose_name = _("Passport")

    def ready(self) -> None:
        from passport import navigation
        from passport.snapshots import checks, rules, tasks, verdict  # noqa: F401  (checks, perms, tasks)
        from passport.snapshots.navigation import register as register_snapshots
        from passport.verdict import register_verdict_check

        navigation.register()
        register_snapshots()
        register_verdict_check("bms_history", verdict.check_bms_history)
