// Progressive enhancement only: every page works without this script.
// A select marked data-autosubmit submits its form when it changes.
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute('data-autosubmit') && el.form) {
    el.form.requestSubmit();
  }
});
