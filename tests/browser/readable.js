// A graded report or a strategy comparison reads as a block of text (tests/browser/
// test_widget_layout.py): every cell left-aligned (JupyterLab's output CSS right-aligns table
// cells and centres tables), each table at the left of its container, a score on one line, and
// no word broken across two lines.
(root) => {
  const problems = [];
  const what = (el) => `${el.tagName} "${el.innerText.trim().slice(0, 30)}"`;
  for (const el of [root, ...root.querySelectorAll('td, th, div, h4, p, pre')]) {
    const align = getComputedStyle(el).textAlign;
    if (align !== 'left' && align !== 'start') problems.push(`${what(el)} is aligned ${align}`);
  }
  for (const table of root.querySelectorAll('table')) {
    const gap = table.getBoundingClientRect().left - table.parentElement.getBoundingClientRect().left;
    if (gap > 12) problems.push(`a table starts ${Math.round(gap)} px right of its container`);
  }
  for (const score of root.querySelectorAll('.vlab-score')) {
    const lineHeight = parseFloat(getComputedStyle(score).fontSize) * 1.6;
    if (score.getClientRects().length !== 1 || score.getBoundingClientRect().height > lineHeight) {
      problems.push(`score "${score.innerText}" takes more than one line`);
    }
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.data.matchAll(/\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) problems.push(`the word "${m[0]}" is broken across lines`);
    }
  }
  return problems;
}
