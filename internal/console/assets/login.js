// herd console: the login form. Posts the password as JSON with the
// page's anti-forgery token, then goes to the console.
"use strict";
(function () {
  const form = document.getElementById("login-form");
  const err = document.getElementById("login-error");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const password = document.getElementById("password").value;
    let res;
    try {
      res = await fetch("/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ password: password }),
      });
    } catch (e) {
      err.textContent = "The console cannot be reached.";
      return;
    }
    if (res.status === 204) {
      window.location.assign("/");
      return;
    }
    let msg = "Login failed.";
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error;
    } catch (e) { /* not JSON */ }
    err.textContent = msg;
  });
})();
