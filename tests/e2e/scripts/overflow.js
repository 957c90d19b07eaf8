// Horizontal overflow. The page: the document is wider than the width it is laid out in
// (the window less its scroll bar), with the outermost elements whose right edge passes it,
// widest overflow first, leaving out those inside a box that clips or scrolls them (they do
// not widen the page). Regions: boxes that scroll sideways inside the page (a table cut off
// at the window's edge, its other columns reached only by scrolling that box).
const root = document.documentElement;
const limit = root.clientWidth;
const result = { scrollWidth: root.scrollWidth, width: limit, offenders: [], regions: [] };

function clipped(element) {
  for (let parent = element.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
    const overflowX = getComputedStyle(parent).overflowX;
    if (overflowX !== "visible" && parent.getBoundingClientRect().right <= limit + 1) return true;
  }
  return false;
}

if (root.scrollWidth > limit) {
  const passing = new Set();
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right + window.scrollX > limit + 1 && !clipped(element)) passing.add(element);
  }
  const outermost = [...passing].filter((element) => !passing.has(element.parentElement));
  outermost.sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right);
  result.offenders = outermost.slice(0, 3).map((element) => {
    const box = element.getBoundingClientRect();
    return { element: describe(element), right: Math.round(box.right + window.scrollX), width: Math.round(box.width) };
  });
}

for (const element of document.body.querySelectorAll("*")) {
  const overflowX = getComputedStyle(element).overflowX;
  if (overflowX !== "auto" && overflowX !== "scroll") continue;
  if (element.matches("textarea, select, pre, code") || element.clientWidth < 2) continue;
  if (element.scrollWidth > element.clientWidth + 1) {
    result.regions.push({ element: describe(element), scrollWidth: element.scrollWidth, width: element.clientWidth });
  }
}
return result;
