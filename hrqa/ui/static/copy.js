// "Copy with citations" (in the sources panel): the text is already in the page, in a hidden textarea
// the server filled (escaped); the click copies it.
element.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-hrqa-copy]');
  if (!button) return;
  event.preventDefault();
  const block = button.closest('.hrqa-copy');
  const text = block.querySelector('.hrqa-copy-text').value;
  const said = block.querySelector('.hrqa-copied');
  try {
    await navigator.clipboard.writeText(text);
    said.textContent = 'Copied.';
  } catch (error) {
    said.textContent = 'The browser refused the clipboard; the text is shown below to copy by hand.';
    const area = block.querySelector('.hrqa-copy-text');
    area.hidden = false;
    area.select();
  }
});
