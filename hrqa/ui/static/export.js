// "Export conversation": the Markdown and JSON are already in the page, in hidden textareas the server
// filled (escaped); the click downloads one as a file.
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-hrqa-export]');
  if (!button) return;
  event.preventDefault();
  const kind = button.dataset.hrqaExport;
  const text = element.querySelector('.hrqa-export-' + kind).value;
  const type = kind === 'json' ? 'application/json' : 'text/markdown';
  const url = URL.createObjectURL(new Blob([text], {type: type + ';charset=utf-8'}));
  const link = document.createElement('a');
  link.href = url;
  link.download = 'hrqa-conversation.' + kind;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});
