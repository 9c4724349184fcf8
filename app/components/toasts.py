"""The overlay that shows the toasts handlers send (app/state/toasts.py), on every page, without eval()."""

from __future__ import annotations

import reflex as rx
from reflex.vars import FunctionVar
from reflex_components_sonner.toast import toast_ref

from app.state.toasts import ToastState


@rx.memo
def pending_toast(toast_id: rx.Var[int], level: rx.Var[str], message: rx.Var[str], rest: rx.RestProp) -> rx.Component:
    """Mounted once per toast (keyed by its id): calls the toaster from the page's own code (``toast.error(…)``),
    then tells the server it was shown. A component of its own so that its on_mount sees the toast's values."""
    show = toast_ref.to(dict)[level].to(FunctionVar).call(message)
    return rx.box(rest, on_mount=[rx.run_script(show), ToastState.shown(toast_id)], display="none")


def pending_toasts() -> rx.Component:
    """An app wrap (app/app.py): the pending toasts, shown as they arrive."""
    return rx.fragment(
        rx.foreach(
            ToastState.pending,
            lambda item: pending_toast(
                toast_id=item["id"], level=item["level"], message=item["message"], key=item["id"]
            ),
        )
    )
