// After each update, bring the answer sentence (else the passage) into view, in its box and the page.
watch('value', () => {
  const target = element.querySelector('.hrqa-focus mark') || element.querySelector('#hrqa-focus');
  if (target) target.scrollIntoView({block: 'center'});
});
