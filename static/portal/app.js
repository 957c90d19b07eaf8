// Progressive enhancement only: every form works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
    const button = select.form.querySelector("button[type=submit]");
    if (button) button.classList.add("js-hidden");
  }
});

// The phone menu (templates/base.html) is a popover its button opens without this file; here the
// button's aria-expanded follows it, and widening the window to the sidebar layout closes it.
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.getElementById("site-menu");
  const button = document.querySelector('[data-testid="menu-button"]');
  if (!menu || !button || !menu.showPopover) return;
  menu.addEventListener("toggle", (event) => {
    button.setAttribute("aria-expanded", String(event.newState === "open"));
  });
  const desktop = window.matchMedia("(min-width: 900px)");
  desktop.addEventListener("change", () => {
    if (desktop.matches && menu.matches(":popover-open")) menu.hidePopover();
  });
});

// Live progress of card generation on the order page (templates/cards/_progress.html): while
// the order is generating, ask for its progress every 2 s and update each batch's bar and
// figures in place; once the order has left "generating", reload once to show its new state.
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-progress-url][data-progress-poll]");
  if (!panel) return;
  const url = panel.dataset.progressUrl;
  const interval = 2000;
  const fields = ["status_label", "counts_text", "percent_text", "rate_text", "eta_text", "failure_text"];
  let failures = 0;

  const show = (data) => {
    for (const batch of data.batches) {
      const row = panel.querySelector(`[data-batch-id="${CSS.escape(batch.id)}"]`);
      if (!row) continue;
      for (const name of [...row.classList]) {
        if (name.startsWith("status-")) row.classList.remove(name);
      }
      row.classList.add(`status-${batch.status}`);
      const bar = row.querySelector('[data-field="bar"]');
      if (bar) {
        bar.max = batch.quantity;
        bar.value = batch.generated;
        bar.textContent = batch.percent_text;
      }
      for (const name of fields) {
        const element = row.querySelector(`[data-field="${name}"]`);
        if (element) element.textContent = batch[name] || "";
      }
      const failure = row.querySelector('[data-field="failure_text"]');
      if (failure) failure.hidden = !batch.failure_text;
    }
  };

  const poll = async () => {
    let data;
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      data = await response.json();
      failures = 0;
    } catch {
      failures += 1;
      // A network blip: try again a little later; give up after a few misses in a row.
      if (failures < 5) window.setTimeout(poll, interval * (failures + 1));
      return;
    }
    show(data);
    if (!data.fulfilling) {
      window.location.reload();
      return;
    }
    // Every batch ready or failed: a failed one waits for support, nothing more moves.
    if (data.batches.every((batch) => batch.status === "ready" || batch.status === "failed")) return;
    window.setTimeout(poll, interval);
  };
  window.setTimeout(poll, interval);
});

// A form marked data-submit-once (the new order form) is sent once: a second click, or Enter,
// while the first request is in flight does nothing, and the buttons show they are locked. The
// server makes one order of one form anyway (its one-time token); this spares the user a
// second request and the doubt.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-submit-once")) return;
  if (form.dataset.submitting) {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "true";
  form.setAttribute("aria-busy", "true");
  // Not now: the browser takes the pressed button's name and value after this event, and a
  // disabled button would be left out of the request.
  window.setTimeout(() => {
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  }, 0);
});

// Back on the page from the browser's history cache: the form can be used again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const form of document.querySelectorAll("form[data-submit-once][data-submitting]")) {
    delete form.dataset.submitting;
    form.removeAttribute("aria-busy");
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
  }
});

// --- Copy buttons of secrets shown once (templates/cards/_secret.html) ----------------------
// The button copies the value without its group separators (data-copy-value, already on the
// page as text) and says "Copied" in its status, which screen readers announce (aria-live).
// Where the clipboard API is missing (a page not served over HTTPS, an old browser), a hidden
// text area and execCommand("copy") stand in; if both fail, the status says to copy by hand
// and the code is selected. Nothing leaves the page: no request, no URL, no log.
document.addEventListener("DOMContentLoaded", () => {
  const fallbackCopy = (text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  };

  const copy = async (text) => {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch {
        // Refused (permissions, no focus): try the old way.
      }
    }
    return fallbackCopy(text);
  };

  for (const box of document.querySelectorAll("[data-secret-copy]")) {
    const value = box.querySelector("[data-copy-value]");
    const button = box.querySelector("[data-copy-button]");
    const status = box.querySelector('[role="status"]');
    if (!value || !button || !status) continue;
    button.hidden = false;
    let clear = 0;
    button.addEventListener("click", async () => {
      const copied = await copy(value.dataset.copyValue);
      window.clearTimeout(clear);
      // Emptied first, so that a second click is announced again.
      status.textContent = "";
      status.classList.toggle("copy-failed", !copied);
      window.setTimeout(() => {
        status.textContent = copied ? button.dataset.copiedText : button.dataset.copyFailedText;
      }, 50);
      if (!copied) {
        const range = document.createRange();
        range.selectNodeContents(value);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      } else {
        clear = window.setTimeout(() => {
          status.textContent = "";
        }, 8000);
      }
    });
  }
});
// --- end of copy buttons ---
