from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustodyConfig(AppConfig):
    name = "custody"
    verbose_name = _("Custody")

    def ready(self) -> None:
        # Custody fills passport's extension points; passport never imports custody.
        from custody import navigation, rules, verdict  # noqa: F401  (rules registers permissions)
        from custody.services.steps import record_registrations
        from passport import access, hooks, summary
        from passport.verdict import register_verdict_check

        hooks.register_on_registered(record_registrations)
        access.register_interest_provider(verdict.pending_transfer_interest)
        register_verdict_check("licensed_sites", verdict.check_licensed_sites)
        register_verdict_check("chain_intact", verdict.check_chain_intact)
        summary.register_custody_summary(verdict.custody_summary)
        navigation.register()
