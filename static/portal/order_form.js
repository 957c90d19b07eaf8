// The order form with htmx (templates/cards/order_form.html). htmx swaps in the face-value
// field that fits a line's product and the live price panel; this file only keeps what the
// buyer typed and where they were across the face-value swap. The form works without it.
(() => {
  const faceValueField = (slot) => slot.querySelector("select, input");

  // A value typed while the new field was on its way, or a field that had the focus, is kept:
  // the old field's value is read just before the swap and given to the new one.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const slot = event.detail.target;
    if (!(slot instanceof HTMLElement) || !slot.classList.contains("face-value-slot")) return;
    const field = faceValueField(slot);
    if (!field) return;
    slot.dataset.carryValue = field.value;
    slot.dataset.carryFocus = document.activeElement === field ? "true" : "";
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const slot = event.detail.target;
    if (!(slot instanceof HTMLElement) || !slot.classList.contains("face-value-slot")) return;
    const field = faceValueField(slot);
    const carried = slot.dataset.carryValue || "";
    const focus = slot.dataset.carryFocus === "true";
    delete slot.dataset.carryValue;
    delete slot.dataset.carryFocus;
    if (!field) return;
    if (!field.value && carried) {
      if (field instanceof HTMLSelectElement) {
        const wanted = Number(carried.replace(/,/g, ""));
        const option = [...field.options].find((o) => o.value && Number(o.value) === wanted);
        if (option) field.value = option.value;
      } else {
        field.value = carried;
      }
    }
    if (focus) field.focus();
  });

  // A line the server had marked wrong ("Calculate price", a refused save) that the live price
  // now prices is fixed: its marks and messages go. The summary above the form stays until
  // the next full check.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!(event.detail.target instanceof HTMLElement) || event.detail.target.id !== "price-panel") return;
    for (const row of document.querySelectorAll("#order-lines tr.line.has-error")) {
      const amount = row.querySelector('[data-testid="line-amount"] span');
      if (!amount || !amount.textContent.trim()) continue;
      row.classList.remove("has-error");
      const errors = row.nextElementSibling;
      if (errors && errors.classList.contains("line-errors")) errors.hidden = true;
    }
  });
})();
