"""Chinese for the parts of Django, django-axes and django-otp that ship no zh_Hans translation.

Django merges our catalogue (``LOCALE_PATHS``) over every installed app's, so a msgid translated
in ``locale/zh_Hans`` is what the operators' admin shows, provided ``makemessages`` keeps it:
the strings below are listed here, each marked with ``gettext_noop`` (or a lazy call for a
plural), so that extraction finds them. Each group says where the string is shown.

django-otp writes its model labels and help texts as plain strings, which no catalogue can
reach; ``translate_totp_device`` puts translatable labels on the model's fields when the apps
are ready. It only changes what a page shows: the English text (and so the migrations) stays
the same.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext_lazy

# Django 6.1 strings missing from Django's own zh_Hans catalogue.
DJANGO = [
    gettext_noop("- Select an option -"),  # the empty choice of every select (forms, admin)
    gettext_noop("Filter by %(field_name)s"),  # admin changelist, date hierarchy
    gettext_noop("No %s matches the given query."),  # get_object_or_404 (admin 404 pages)
    gettext_noop('The app "%s" could not be found.'),  # admin app index
    gettext_noop("Logout"),  # admin registration/logged_out.html
    gettext_noop("“%(value)s” is not a valid binary value."),  # BinaryField validation
]
DJANGO_PLURAL = ngettext_lazy(  # admin delete confirmation, long lists of related objects
    "…and %(count)d more object.", "…and %(count)d more objects.", "count"
)

# django-axes: its admin (access attempts, failures, logs) and its lockout message.
AXES = [
    gettext_noop("Locked Out"),  # axes/admin.py: list column and filter
    gettext_noop("Form Data"),  # axes/admin.py: fieldset
    gettext_noop("Meta Data"),  # axes/admin.py: fieldset
    gettext_noop("Clean up expired attempts"),  # axes/admin.py: action
    gettext_noop("Cleaned up {count} expired access attempts."),  # message after that action
    gettext_noop("Not set"),  # axes/admin.py: expiration column
    gettext_noop("Attempt Remaining"),  # axes/admin.py: column
    gettext_noop("User Agent"),  # axes/models.py: field
    gettext_noop("IP Address"),  # axes/models.py: field
    gettext_noop("Username"),  # axes/models.py: field
    gettext_noop("HTTP Accept"),  # axes/models.py: field
    gettext_noop("Path"),  # axes/models.py: field
    gettext_noop("Attempt Time"),  # axes/models.py: field
    gettext_noop("Access lock out"),  # axes/models.py: field
    gettext_noop("access failure"),  # axes/models.py: model
    gettext_noop("access failures"),
    gettext_noop("GET Data"),  # axes/models.py: field
    gettext_noop("POST Data"),  # axes/models.py: field
    gettext_noop("Failed Logins"),  # axes/models.py: field
    gettext_noop("access attempt"),  # axes/models.py: model
    gettext_noop("access attempts"),
    gettext_noop("Access Attempt"),  # axes/models.py: expiration's link to its attempt
    gettext_noop("Expires At"),  # axes/models.py: field
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("access attempt expiration"),  # axes/models.py: model
    gettext_noop("access attempt expirations"),
    gettext_noop("Logout Time"),  # axes/models.py: field
    gettext_noop("Session key hash (sha256)"),  # axes/models.py: field
    gettext_noop("access log"),  # axes/models.py: model
    gettext_noop("access logs"),
    gettext_noop("Account locked: too many login attempts. Please try again later."),
    gettext_noop(
        "Account locked: too many login attempts. Contact an admin to unlock your account."
    ),
]

# django-otp: the admin sign-in form (password plus code) and its refusals.
OTP = [
    gettext_noop("Please enter your authentication code."),
    gettext_noop("Incorrect authentication code. Please try again."),
    gettext_noop("Please enter your OTP token."),
    gettext_noop("Error generating challenge: {0}"),
    gettext_noop("The selected OTP device is not interactive"),
    gettext_noop("OTP Challenge: {0}"),
    gettext_noop("Invalid token. Please make sure you have entered it correctly."),
    gettext_noop("Verification of the token is currently disabled"),
    gettext_noop("Please select a device."),
]
OTP_PLURAL = ngettext_lazy(
    "Verification temporarily disabled because of %(failure_count)d failed attempt, please "
    "try again soon.",
    "Verification temporarily disabled because of %(failure_count)d failed attempts, please "
    "try again soon.",
    "failure_count",
)

# django-otp's TOTP device: field labels and help texts (plain strings in django-otp).
TOTP_FIELDS = {
    "user": (_("user"), _("The user that this device belongs to.")),
    "name": (_("name"), _("The human-readable name of this device.")),
    "confirmed": (_("confirmed"), _("Is this device ready for use?")),
    "created_at": (
        _("created at"),
        _("The date and time when this device was initially created in the system."),
    ),
    "last_used_at": (_("last used at"), _("The most recent date and time this device was used.")),
    "throttling_failure_timestamp": (
        _("throttling failure timestamp"),
        _("A timestamp of the last failed verification attempt. Null if last attempt succeeded."),
    ),
    "throttling_failure_count": (
        _("throttling failure count"),
        _("Number of successive failed attempts."),
    ),
    "key": (_("key"), _("A hex-encoded secret key of up to 40 bytes.")),
    "step": (_("step"), _("The time step in seconds.")),
    "t0": (_("t0"), _("The Unix time at which to begin counting steps.")),
    "digits": (_("digits"), _("The number of digits to expect in a token.")),
    "tolerance": (_("tolerance"), _("The number of time steps in the past or future to allow.")),
    "drift": (
        _("drift"),
        _("The number of time steps the prover is known to deviate from our clock."),
    ),
    "last_t": (
        _("last t"),
        _(
            "The t value of the latest verified token. The next token must be at a higher time "
            "step."
        ),
    ),
}
TOTP_FIELDSETS = {
    "Identity": _("Identity"),
    "Timestamps": _("Timestamps"),
    "Configuration": _("Configuration"),
    "State": _("State"),
    "Throttling": _("Throttling"),
}


def translate_totp_device() -> None:
    """Give the TOTP device model translatable labels (called from ``PortalConfig.ready``).

    Only ``verbose_name`` (what pages show) is set on each field, not ``_verbose_name`` (what
    migrations compare), and every help text keeps its English wording, so no migration for
    django-otp follows from it."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for name, (label, help_text) in TOTP_FIELDS.items():
        field = TOTPDevice._meta.get_field(name)
        field.verbose_name = label
        field.help_text = help_text
    TOTPDevice._meta.verbose_name = _("TOTP device")
    TOTPDevice._meta.verbose_name_plural = _("TOTP devices")
