-- The users table of examples/postgres: the source of truth the cache reads through.
-- Safe to run again: the local stack (deploy/docker-compose.yml,
-- scripts/stack-native.sh) and the example itself apply it on every start.
CREATE TABLE IF NOT EXISTS users (
    id         bigint      PRIMARY KEY,
    name       text        NOT NULL,
    email      text        NOT NULL UNIQUE,
    updated_at timestamptz NOT NULL DEFAULT now()
);
