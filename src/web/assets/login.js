// Shows the login error after a failed attempt (the server redirects to /login?failed=1).
// A file, not an inline script: the Content-Security-Policy allows scripts from 'self' only.
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("login-error").hidden = false;
}
