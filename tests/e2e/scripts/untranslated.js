// English left on a Chinese page: runs of at least two ASCII words of three or more letters
// in the text a person sees (text nodes, placeholders, button values), after taking out what
// is data rather than interface. What is left out, and why:
//   - <script>, <style>, <code>, <kbd>, <pre>, .nowrap (identifiers and codes), form fields'
//     values (what someone typed), and elements marked lang="en..." or translate="no" (a
//     language's own name, on purpose);
//   - e-mail addresses, web addresses, and words holding a digit (numbers, order numbers);
//   - acronyms that Chinese finance teams write in Latin letters (ALLOWED below): they break a
//     run and do not count.
const ALLOWED = new Set([
  "API", "CSV", "XLSX", "PDF", "TOTP", "ZIP", "SHA", "ID", "URL", "HTTP", "HTTPS", "JSON",
  "CNY", "RMB", "OK", "IP", "SMS", "UTC", "VAT",
]);
const SKIP = "script, style, code, kbd, pre, textarea, .nowrap, [translate='no'], [lang^='en']";
const DATA = /[\w.+-]+@[\w-]+(\.[\w-]+)+|https?:\/\/\S+|\S*\d\S*/g;
const WORD = /[A-Za-z][A-Za-z'’]*/g;
const problems = [];
const seen = new Set();

function runs(text) {
  // Words separated only by spaces or punctuation form a run; anything else (CJK, a digit, an
  // allowed acronym, data taken out) ends it.
  const found = [];
  let run = [];
  let last = -1;
  const close = () => {
    if (run.filter((w) => w.length >= 3).length >= 2) found.push(run.join(" "));
    run = [];
  };
  const cleaned = text.replace(DATA, " \u0000 ");
  for (const match of cleaned.matchAll(WORD)) {
    const between = last < 0 ? "" : cleaned.slice(last, match.index);
    if (last >= 0 && !/^[\s,.;:!?"'’“”()\/&·–—-]*$/.test(between)) close();
    if (ALLOWED.has(match[0].toUpperCase())) {
      close();
    } else {
      run.push(match[0]);
    }
    last = match.index + match[0].length;
  }
  close();
  return found;
}

function visible(element) {
  return element.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true });
}

function report(element, text) {
  for (const run of runs(text)) {
    const key = run + "|" + describe(element);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ element: describe(element), text: run });
  }
}

const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(SKIP) || !node.data.trim()) continue;
  if (parent.tagName !== "OPTION" && !visible(parent)) continue;
  report(parent, node.data);
}
for (const element of document.body.querySelectorAll("[placeholder], input[type=submit], input[type=button]")) {
  if (element.closest(SKIP) || !visible(element)) continue;
  report(element, element.getAttribute("placeholder") || element.value || "");
}
return problems;
