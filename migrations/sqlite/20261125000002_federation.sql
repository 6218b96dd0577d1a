-- The account's RSA keypair. One row is current (retired_at IS NULL); a
-- rotation retires it and adds a new one, so old keys stay on record.
CREATE TABLE actor_keys (
    id          INTEGER PRIMARY KEY NOT NULL,
    private_pem TEXT NOT NULL,
    public_pem  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);

-- Remote actors following the account.
CREATE TABLE followers (
    actor        TEXT PRIMARY KEY NOT NULL,
    inbox        TEXT NOT NULL,
    shared_inbox TEXT,
    follow_id    TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
