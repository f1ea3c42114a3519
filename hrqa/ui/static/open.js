// The Find and Documents panels relay a click on a mention or an "Open" button as their own "click"
// event with the document id (and the mention's span and hash); the server refuses ids it has not
// indexed. A click on a "link" anchor is left to the browser (it opens the shared link in a new tab).
element.addEventListener('click', (event) => {
  if (event.target.closest('a')) return;
  const item = event.target.closest('[data-hrqa-open]');
  if (!item) return;
  event.preventDefault();
  const d = item.dataset;
  trigger('click', {doc: d.hrqaOpen, start: d.hrqaStart ?? null, end: d.hrqaEnd ?? null, hash: d.hrqaHash ?? null});
});
