-- Passkeys (issue 27): WebAuthn credentials, each a way into one account, as a first step on its own or as a second.
-- `user_handle`: the WebAuthn user handle the authenticator keeps beside the credential (a random UUID per person,
-- never the account id or an address), shared by the person's passkeys; a discoverable sign-in names it.
-- `credential_id`: the credential's id, base64url. `credential`: webauthn-rs's `Passkey` (public key, counter,
-- flags), JSON; `counter` and the backup flags are copied out of it so that a use is one conditional UPDATE.
CREATE TABLE passkeys (
    id              TEXT    PRIMARY KEY NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_handle     TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,
    counter         BIGINT NOT NULL DEFAULT 0,
    backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);

CREATE INDEX passkeys_by_user ON passkeys (user_id);

-- The challenges of finished passkey ceremonies, kept until they expire: a ceremony's state travels sealed with its
-- challenge (so a visitor to /login stores nothing), and finishing one writes its challenge here first, so it
-- finishes once, on whichever instance.
CREATE TABLE passkey_challenges (
    challenge  TEXT    PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX passkey_challenges_by_expiry ON passkey_challenges (expires_at);
