// Labels broken inside a word: for each visible menu link, button, table header, badge, form
// label and term of a facts list, every word (split on white space; a run of CJK characters
// without spaces is one word when it has at most 8 of them, longer ones may break anywhere)
// must sit on one line. A Range over the word gives one client rect per line it spans.
// Identifiers must sit on one line whole (below).
const SELECTOR = [
  "a[data-nav]", "button", "a.button", "[role=button]", "summary",
  "th", ".badge", "label", "legend", "dt",
].join(",");
const CJK = /[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;
const problems = [];
const seen = new Set();

function visible(element) {
  // Shown, and not text for screen readers only (clipped away, or a box of a pixel or two that
  // hides what overflows it).
  if (!element.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true })) return false;
  for (let e = element; e && e !== document.body; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.position === "absolute" && style.clip !== "auto") return false;
    if (style.clipPath.startsWith("inset(50%")) return false;
    const box = e.getBoundingClientRect();
    if ((box.width <= 2 || box.height <= 2) && style.overflow !== "visible") return false;
  }
  return true;
}

function lines(rects) {
  // Rects of one line share their vertical middle; count the distinct ones.
  const middles = [];
  for (const rect of rects) {
    if (rect.width < 0.5 || rect.height < 0.5) continue;
    const middle = rect.top + rect.height / 2;
    if (!middles.some((m) => Math.abs(m - middle) < rect.height / 2)) middles.push(middle);
  }
  return middles.length;
}

for (const element of document.querySelectorAll(SELECTOR)) {
  if (!visible(element)) continue;
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement || !visible(node.parentElement)) continue;
    for (const match of node.data.matchAll(/\S+/g)) {
      const word = match[0];
      if (CJK.test(word) && [...word].length > 8) continue;
      if ([...word].length < 2) continue;
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + word.length);
      if (lines(range.getClientRects()) > 1) {
        const key = describe(element) + "|" + word;
        if (seen.has(key)) continue;
        seen.add(key);
        problems.push({ element: describe(element), word: word });
      }
    }
  }
}
// Identifiers (credit codes, ID and phone numbers, order and invoice numbers, codes) are marked
// with .nowrap or written in a <code> of their own and never break at all. A <code> holding
// elements (a card code shown in groups) may break between them, so only leaf ones count.
for (const element of document.querySelectorAll(".nowrap, code:not(:has(*))")) {
  if (!visible(element) || !element.textContent.trim()) continue;
  const range = document.createRange();
  range.selectNodeContents(element);
  if (lines(range.getClientRects()) > 1) {
    problems.push({ element: describe(element), word: element.textContent.trim() });
  }
}
return problems;
