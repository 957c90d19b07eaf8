"""Forms of the card pages, by feature: the order form and order filters (``orders``), and the
order file pages (``uploads``)."""

from cards.forms.orders import (
    ADD_LINES_STEP,
    LINE_FIELDS,
    LINES_PREFIX,
    MAX_FORM_LINES,
    NEW_ORDER_ROWS,
    RECIPIENT_FIELDS,
    REGISTRATION_FIELDS,
    LineForm,
    LineFormSet,
    OrderFilterForm,
    OrderForm,
    PaymentMethodSelect,
    RegistrationForm,
    product_choices,
)
from cards.forms.uploads import UPLOAD_ACCEPT, ConfirmUploadForm, SupportUploadForm, UploadForm

__all__ = [
    "ADD_LINES_STEP",
    "LINES_PREFIX",
    "LINE_FIELDS",
    "MAX_FORM_LINES",
    "NEW_ORDER_ROWS",
    "RECIPIENT_FIELDS",
    "REGISTRATION_FIELDS",
    "UPLOAD_ACCEPT",
    "ConfirmUploadForm",
    "LineForm",
    "LineFormSet",
    "OrderFilterForm",
    "OrderForm",
    "PaymentMethodSelect",
    "RegistrationForm",
    "SupportUploadForm",
    "UploadForm",
    "product_choices",
]
