// auth4agent operator console: served from the binary at /console/static/console.js (CSP script-src 'self';
// no inline script anywhere). Every form works without it except the passkey ceremonies, which need WebAuthn.
"use strict";

// base64url (no padding) <-> ArrayBuffer: how webauthn-rs writes challenges, user handles and credential ids.
function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}
function toB64url(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// navigator.credentials.create with the server's creation options; the answer as webauthn-rs reads it.
async function createCredential(options) {
  const o = JSON.parse(options).publicKey;
  o.challenge = fromB64url(o.challenge);
  o.user.id = fromB64url(o.user.id);
  for (const c of o.excludeCredentials || []) c.id = fromB64url(c.id);
  const cred = await navigator.credentials.create({ publicKey: o });
  return JSON.stringify({
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: toB64url(cred.response.attestationObject),
      clientDataJSON: toB64url(cred.response.clientDataJSON),
    },
    extensions: {},
  });
}

// navigator.credentials.get with the server's request options (user verification required).
async function getAssertion(options) {
  const o = JSON.parse(options).publicKey;
  o.challenge = fromB64url(o.challenge);
  for (const c of o.allowCredentials || []) c.id = fromB64url(c.id);
  const cred = await navigator.credentials.get({ publicKey: o });
  const r = cred.response;
  return JSON.stringify({
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: toB64url(r.authenticatorData),
      clientDataJSON: toB64url(r.clientDataJSON),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : null,
    },
    extensions: {},
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form")) {
    const create = form.dataset.webauthnCreate;
    const get = form.dataset.webauthnGet;
    form.addEventListener("submit", (event) => {
      // An approval form with every scope unticked would be refused: say so before sending it.
      if (form.classList.contains("approve")
          && form.querySelectorAll('input[type="checkbox"]:checked').length === 0) {
        event.preventDefault();
        window.alert("Tick at least one scope, or deny the request.");
        return;
      }
      if (!create && !get) return;
      event.preventDefault();
      const field = form.querySelector('input[name="credential"]');
      (create ? createCredential(create) : getAssertion(get))
        .then((answer) => {
          field.value = answer;
          form.submit();
        })
        .catch((e) => {
          form.dataset.webauthnError = String(e);
          window.alert("The passkey did not answer: " + e);
        });
    });
  }
  const code = document.getElementById("user-code");
  if (code && code.value === "") code.focus();
});
