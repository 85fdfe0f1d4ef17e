// What "fits" means for a rendered output, checked in the page (tests/browser/test_widget_layout.py).
// Called with the root element of one output (a lab widget, a grade report, a comparison);
// returns a list of problems, each a sentence naming the element.
(root) => {
  const problems = [];
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    const classes = [...el.classList].filter((c) => !c.startsWith('lm-mod'));
    if (classes.length) s += '.' + classes.slice(0, 3).join('.');
    const text = (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 50);
    const view = el.parentElement && el.parentElement.closest('[class*="vlab-"]');
    const where = view ? ` in .${[...view.classList].filter((c) => c.startsWith('vlab-') && !c.startsWith('vlab-test-')).join('.')}` : '';
    return (text ? `${s} "${text}"` : s) + where;
  };
  // Meant to scroll: vlab asked for a scroll bar on it (an inline overflow style: a console, a
  // wide table, the trap log's list). ipywidgets' and Lumino's own boxes scroll by default too,
  // but content that overflows them is a layout that broke, not a scroller.
  const scrolls = (el) => {
    const cs = getComputedStyle(el);
    return (cs.overflowX === 'auto' || cs.overflowX === 'scroll') &&
           /overflow/.test(el.getAttribute('style') || '');
  };
  // An element inside a scroller (below root) may extend past the root: it can be scrolled to.
  const inScroller = (el) => {
    for (let p = el.parentElement; p && p !== root; p = p.parentElement) {
      if (scrolls(p)) return true;
    }
    return false;
  };
  const area = root.closest('.jp-OutputArea-output') || root.parentElement;
  const rootBox = root.getBoundingClientRect();
  const areaBox = area.getBoundingClientRect();
  if (rootBox.right > areaBox.right + 1) {
    problems.push(`${name(root)} is wider than its output area (${Math.round(rootBox.width)} px > ` +
                  `${Math.round(areaBox.width)} px)`);
  }
  for (const el of [root, ...root.querySelectorAll('*')]) {
    const svg = el.closest('svg');
    if (svg && svg !== el) continue;  // inside a drawing: the drawing as a whole is checked
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden' || cs.display === 'contents') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;  // not laid out (a hidden tab)
    if (el.tagName === 'SVG' || el.tagName === 'svg') {
      const holder = el.parentElement;
      if (box.width > holder.clientWidth + 1 && !scrolls(holder)) {
        problems.push(`${name(holder)}: its drawing is wider than it (${Math.round(box.width)} px > ` +
                      `${holder.clientWidth} px)`);
      }
    } else if (cs.display !== 'inline' && el.scrollWidth > el.clientWidth + 1 && !scrolls(el)
               && el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA') {
      const what = cs.overflowX === 'visible' ? 'spills out of its box' : 'is cut off';
      problems.push(`${name(el)}: content ${what} (${el.scrollWidth} px in ${el.clientWidth} px)`);
    }
    if (box.right > rootBox.right + 1 && !inScroller(el)) {
      problems.push(`${name(el)}: sticks out of the widget by ${Math.round(box.right - rootBox.right)} px`);
    }
  }
  return problems;
}
