// auth4agent operator console: served from the binary at /console/static/console.js (CSP script-src 'self';
// no inline script anywhere). Progressive enhancement only: every form works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // An approval form with every scope unticked would be refused: say so before sending it.
  for (const form of document.querySelectorAll("form.approve")) {
    form.addEventListener("submit", (event) => {
      const ticked = form.querySelectorAll('input[type="checkbox"]:checked').length;
      if (ticked === 0) {
        event.preventDefault();
        form.querySelector("fieldset").classList.add("invalid");
        window.alert("Tick at least one scope, or deny the request.");
      }
    });
  }
  const code = document.getElementById("user-code");
  if (code && code.value === "") code.focus();
});
