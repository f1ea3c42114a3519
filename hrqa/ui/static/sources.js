// The sources panel relays two kinds of click to the server as its own "click" event with the turn
// and citation numbers (never a document id: the server looks those up in the session's answers):
// its "Show in document" buttons, and the [n] markers in the chat (one listener on the page).
window.__hrqaOpen = (turn, cite) => trigger('click', {turn: turn, cite: cite});
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-hrqa-cite]');
  if (!button) return;
  event.preventDefault();
  window.__hrqaOpen(Number(button.dataset.hrqaTurn), Number(button.dataset.hrqaCite));
});
if (!window.__hrqaChatLinks) {
  window.__hrqaChatLinks = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#hrqa-"]');
    if (!link) return;
    const match = /^#hrqa-(\d+)-(\d+)$/.exec(link.getAttribute('href') || '');
    if (!match) return;
    event.preventDefault();
    event.stopPropagation();
    window.__hrqaOpen(Number(match[1]), Number(match[2]));
  }, true);
}
