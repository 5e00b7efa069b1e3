// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form.submit();
  }
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(() => {
      button.textContent = "Copied";
    });
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
// After a POST that rendered a one-time secret, turn the history entry into a plain GET of the
// page's own address (given by the element: after a password confirmation the browser shows
// the confirmation URL): reloading then shows the list (only the suffix) instead of
// re-submitting the form and minting a second token.
const secret = document.querySelector("[data-one-time-secret]");
if (secret && window.history.replaceState) {
  window.history.replaceState(null, "", secret.dataset.oneTimeSecret || window.location.href);
}
