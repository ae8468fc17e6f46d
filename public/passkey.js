// Passkeys in the browser: the small script behind the login page's "Sign in with a passkey" button and passkey
// autofill, the second step's and /confirm's passkey buttons, and the profile's "Add a passkey". No WebAssembly: the
// login page loads none. The server makes every decision (see server/auth/passkey.rs); this only carries its options
// to the authenticator and the answer back.
//
// Elements opt in with data attributes, and stay hidden until this script finds a browser that can use passkeys:
//   [data-passkey="sign-in"]      a button: sign in with any of this site's passkeys (or the typed address's)
//   [data-passkey="second-step"]  a button on /login/mfa
//   [data-passkey="confirm"]      a button on /confirm
//   [data-passkey="register"]     a form on /profile, with an optional `name` field
//   [data-passkey="sign-up"]      a form on /signup/passkey (the mailed link's page), with the link as `link`
//   [data-passkey="recover"]      a form on /reset/new, with the link as `link`, and a `code` field inside
//                                 [data-passkey-code], shown when the account asks for its second step
//   [data-passkey-status]         where a sentence about the outcome goes
//   [data-passkey-only]           shown only where passkeys can be used; [data-passkey-hide] hidden there
//   input[autocomplete~="webauthn"]  the login page's address field: passkey autofill where the browser offers it
(() => {
  'use strict';

  const supported = typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;

  // --- WebAuthn's JSON forms, with a fallback for browsers without PublicKeyCredential.parse*FromJSON / toJSON ---

  const fromBase64url = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  };
  const toBase64url = (buffer) => {
    let text = '';
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromBase64url(c.id) }));

  const creationOptions = (json) =>
    PublicKeyCredential.parseCreationOptionsFromJSON
      ? PublicKeyCredential.parseCreationOptionsFromJSON(json)
      : {
          ...json,
          challenge: fromBase64url(json.challenge),
          user: { ...json.user, id: fromBase64url(json.user.id) },
          excludeCredentials: withIds(json.excludeCredentials),
        };

  const requestOptions = (json) =>
    PublicKeyCredential.parseRequestOptionsFromJSON
      ? PublicKeyCredential.parseRequestOptionsFromJSON(json)
      : { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };

  const answerJSON = (credential) => {
    if (typeof credential.toJSON === 'function') return credential.toJSON();
    const response = {};
    for (const key of ['clientDataJSON', 'attestationObject', 'authenticatorData', 'signature', 'userHandle']) {
      if (credential.response[key]) response[key] = toBase64url(credential.response[key]);
    }
    if (typeof credential.response.getTransports === 'function') response.transports = credential.response.getTransports();
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response,
      authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  };

  // --- Talking to Gatehouse ---

  const post = async (path, body) => {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(answer.message || 'Gatehouse could not be reached. Please try again.');
      error.code = answer.error;
      throw error;
    }
    return answer;
  };

  const say = (text, problem) => {
    for (const status of document.querySelectorAll('[data-passkey-status]')) {
      status.textContent = text;
      status.classList.toggle('problem', !!problem);
      status.hidden = !text;
    }
  };

  // A browser that was asked and said no (the person closed the dialog) is not an error worth a red sentence.
  const cancelled = (error) => error && (error.name === 'NotAllowedError' || error.name === 'AbortError');

  const query = new URLSearchParams(location.search);
  const remembered = () => !!document.querySelector('input[name="remember"]:checked');

  // --- Using a passkey ---

  let autofill = null; // the pending conditional request, cancelled before a modal one starts

  const use = async (purpose, { email, mediation, signal } = {}) => {
    const options = await post('/auth/passkey/options', { for: purpose, email: email || undefined });
    const credential = await navigator.credentials.get({
      publicKey: requestOptions(options.publicKey),
      mediation,
      signal,
    });
    const done = await post('/auth/passkey/finish', {
      ceremony: options.ceremony,
      credential: answerJSON(credential),
      next: query.get('next') || undefined,
      remember: remembered(),
    });
    location.assign(done.redirect);
  };

  const button = async (purpose, control) => {
    if (autofill) autofill.abort();
    control.disabled = true;
    say('');
    try {
      const typed = document.querySelector('input[autocomplete~="webauthn"]');
      await use(purpose, { email: purpose === 'sign_in' && typed ? typed.value.trim() : undefined });
    } catch (error) {
      // The browser does not tell a closed dialog from a device that could not verify its holder.
      if (cancelled(error)) say('No passkey was used. Try again, or choose another way.');
      else say(error.message, true);
      control.disabled = false;
      startAutofill();
    }
  };

  // Passkey autofill: the address field offers this site's passkeys beside saved addresses.
  const startAutofill = async () => {
    const field = document.querySelector('input[autocomplete~="webauthn"]');
    if (!field || !PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    autofill = new AbortController();
    try {
      await use('sign_in', { mediation: 'conditional', signal: autofill.signal });
    } catch (error) {
      if (!cancelled(error)) say(error.message, true);
    }
  };

  // --- Making a passkey: on the profile, for a new account, or from a reset link ---

  const field = (form, name) => {
    const input = form.querySelector(`[name="${name}"]`);
    return input ? input.value.trim() : '';
  };

  const creating = {
    register: (form) => ({
      options: ['/auth/passkey/register/options', {}],
      finish: ['/auth/passkey/register', { name: field(form, 'name') }],
      done: () => '/profile?passkey=added#passkeys-title',
    }),
    'sign-up': (form) => ({
      options: ['/auth/passkey/sign-up/options', { link: field(form, 'link') }],
      finish: ['/auth/passkey/sign-up', { remember: remembered() }],
    }),
    recover: (form) => ({
      options: ['/auth/passkey/recover/options', { link: field(form, 'link'), code: field(form, 'code') || undefined }],
      finish: ['/auth/passkey/recover', { link: field(form, 'link') }],
    }),
  };

  const create = async (form, kind) => {
    const submit = form.querySelector('button[type="submit"]');
    if (submit) submit.disabled = true;
    say('');
    const steps = creating[kind](form);
    try {
      const options = await post(...steps.options);
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      const done = await post(steps.finish[0], {
        ...steps.finish[1],
        ceremony: options.ceremony,
        credential: answerJSON(credential),
      });
      location.assign(steps.done ? steps.done() : done.redirect);
    } catch (error) {
      if (error.code === 'confirm_identity') {
        location.assign('/confirm?next=' + encodeURIComponent(location.pathname));
        return;
      }
      if (error.code === 'code_needed') {
        const code = form.querySelector('[data-passkey-code]');
        if (code) code.hidden = false;
        const input = form.querySelector('[name="code"]');
        if (input) input.focus();
        say(error.message);
      } else if (error.name === 'InvalidStateError') {
        say('This device already holds a passkey for your account: sign in with it.', true);
      } else if (!cancelled(error)) say(error.message, true);
      if (submit) submit.disabled = false;
    }
  };

  if (!supported) return;
  const purposes = { 'sign-in': 'sign_in', 'second-step': 'second_step', confirm: 'confirm' };
  for (const element of document.querySelectorAll('[data-passkey]')) {
    const kind = element.dataset.passkey;
    element.hidden = false;
    if (creating[kind]) {
      element.addEventListener('submit', (event) => {
        event.preventDefault();
        create(element, kind);
      });
    } else if (purposes[kind]) {
      element.addEventListener('click', (event) => {
        event.preventDefault();
        button(purposes[kind], element);
      });
    }
  }
  for (const shown of document.querySelectorAll('[data-passkey-only]')) shown.hidden = false;
  for (const hidden of document.querySelectorAll('[data-passkey-hide]')) hidden.hidden = true;
  startAutofill();
})();
