// describe(element): a short, readable name of an element for a failure message:
// tag#id.class[data-testid][data-nav] "its text".
function describe(element) {
  let name = element.tagName.toLowerCase();
  if (element.id) name += "#" + element.id;
  for (const cls of [...element.classList].slice(0, 3)) name += "." + cls;
  for (const attr of ["data-testid", "data-nav", "data-label"]) {
    const value = element.getAttribute(attr);
    if (value) name += `[${attr}="${value}"]`;
  }
  const text = (element.innerText || element.textContent || "").trim().replace(/\s+/g, " ");
  if (text) name += ` "${text.length > 40 ? text.slice(0, 40) + "…" : text}"`;
  return name;
}
