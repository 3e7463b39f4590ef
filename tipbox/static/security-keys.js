/* Security keys (WebAuthn) for the reviewer app: the only script tipbox serves.
 *
 * Loaded by the security-key pages alone (their CSP allows this file and
 * nothing else: no inline script, no fetch). It reads the options the page
 * carries in data-options (JSON, base64url values), asks the browser for a
 * new credential (data-webauthn="register") or an assertion
 * (data-webauthn="login"), puts the answer as JSON in the form's hidden
 * fields and sends the form as usual. Every text it shows comes from the
 * page (data-* attributes, already translated); it writes text only, never
 * HTML.
 */
(function () {
  "use strict";

  function bytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out.buffer;
  }

  function text(buffer) {
    var view = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < view.length; i++) binary += String.fromCharCode(view[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: bytes(item.id), transports: item.transports };
    });
  }

  function prfInputs(extensions) {
    var prf = extensions && extensions.prf;
    if (!prf) return undefined;
    if (prf.eval) return { prf: { eval: { first: bytes(prf.eval.first) } } };
    var byCredential = {};
    Object.keys(prf.evalByCredential || {}).forEach(function (id) {
      byCredential[id] = { first: bytes(prf.evalByCredential[id].first) };
    });
    return { prf: { evalByCredential: byCredential } };
  }

  function creationOptions(options) {
    var publicKey = Object.assign({}, options, {
      challenge: bytes(options.challenge),
      user: Object.assign({}, options.user, { id: bytes(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
      extensions: prfInputs(options.extensions)
    });
    return { publicKey: publicKey };
  }

  function requestOptions(options) {
    var publicKey = Object.assign({}, options, {
      challenge: bytes(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
      extensions: prfInputs(options.extensions)
    });
    return { publicKey: publicKey };
  }

  function extensionResults(credential) {
    var prf = (credential.getClientExtensionResults() || {}).prf;
    if (!prf) return {};
    var out = { enabled: prf.enabled };
    if (prf.results && prf.results.first) out.results = { first: text(prf.results.first) };
    return { prf: out };
  }

  function answer(credential) {
    var response = credential.response;
    var encoded = { clientDataJSON: text(response.clientDataJSON) };
    if (response.attestationObject) {
      encoded.attestationObject = text(response.attestationObject);
      if (response.getTransports) encoded.transports = response.getTransports();
    } else {
      encoded.authenticatorData = text(response.authenticatorData);
      encoded.signature = text(response.signature);
      if (response.userHandle) encoded.userHandle = text(response.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      response: encoded,
      clientExtensionResults: extensionResults(credential)
    });
  }

  function needsFollowUp(credential) {
    var prf = (credential.getClientExtensionResults() || {}).prf;
    return Boolean(prf && prf.enabled && !(prf.results && prf.results.first));
  }

  async function register(form, options) {
    var created = await navigator.credentials.create(creationOptions(options.publicKey));
    form.elements.credential.value = answer(created);
    if (needsFollowUp(created)) {
      // The authenticator has PRF but gives its output only when asserting.
      var followUp = await navigator.credentials.get({ publicKey: {
        challenge: bytes(options.followUp.challenge),
        rpId: options.publicKey.rp.id,
        allowCredentials: [{ type: "public-key", id: created.rawId }],
        userVerification: "discouraged",
        timeout: options.publicKey.timeout,
        extensions: { prf: { eval: { first: bytes(options.followUp.prfSalt) } } }
      } });
      form.elements.follow_up.value = answer(followUp);
    }
  }

  async function logIn(form, options) {
    var asserted = await navigator.credentials.get(requestOptions(options.publicKey));
    form.elements.assertion.value = answer(asserted);
  }

  function say(form, which) {
    var status = form.querySelector("[data-webauthn-status]");
    if (!status) return;
    status.textContent = status.getAttribute("data-" + which) || "";
    status.hidden = false;
  }

  function attach(form) {
    var ceremony = form.getAttribute("data-webauthn") === "register" ? register : logIn;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, "unsupported");
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
      return;
    }
    var busy = false;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (busy || !form.reportValidity()) return;
      busy = true;
      say(form, "working");
      try {
        await ceremony(form, JSON.parse(form.getAttribute("data-options")));
      } catch (error) {
        busy = false;
        say(form, "failed");
        return;
      }
      form.submit();
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(attach);
})();
